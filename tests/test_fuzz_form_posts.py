"""Fuzzing every form post: whatever fields and values arrive, a page never answers 500.

Every URL walked from the resolver (the admin's own model forms aside: Django's admin is
reached only by staff, and its sign-in form is fuzzed) gets random form data, as an anonymous
visitor and as a signed-in person. The test client re-raises a server error, so a crash fails
with its traceback.
"""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Invite, Membership, Role, Team
from chat.models import Conversation

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(300)]
FUZZ = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
KNOWN_FIELDS = ["team", "username", "password", "password1", "password2", "old_password",
                "new_password1", "new_password2", "email", "next", "message", "action"]  # fmt: skip

values = st.one_of(
    st.text(max_size=50),
    st.text(alphabet="\x00\ufffd\u202e<>\"'&;%", max_size=20),
    st.integers().map(str),
    st.sampled_from(["", "-1", "0", "99999999999999999999999", "1e9", "null", "[]", "ü" * 300]),
    st.integers(min_value=10_000, max_value=200_000).map(lambda n: "z" * n),
)
form_data = st.dictionaries(
    st.sampled_from(KNOWN_FIELDS) | st.text(min_size=1, max_size=12),
    values | st.lists(values, max_size=3),
    max_size=6,
)


def walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


ROUTES = sorted(set(walk(get_resolver().url_patterns))) + ["admin/login/"]


@pytest.fixture
def world(django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast
    owner = django_user_model.objects.create_user(username="owner", password="pw-owner-123")
    team = Team.objects.create(name="T")
    Membership.objects.create(team=team, user=owner, role=Role.MEMBER)
    conversation = Conversation.objects.create(owner=owner, title="C")
    invite = Invite.objects.create(created_by=owner, team=team)
    return owner, conversation, invite


def concrete(route: str, conversation: Conversation, token: str) -> str:
    return "/" + (
        route.replace("<int:conversation_id>", str(conversation.pk))
        .replace("<str:token>", token)
        .replace("<uidb64>", "MQ")
        .replace("<token>", token)
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_form_posts_never_answer_500(route, signed_in, world, upstream):
    owner, conversation, invite = world

    @FUZZ
    @given(data=form_data, token=st.sampled_from([invite.token, "nope"]) | st.text(max_size=30))
    def post(data, token):
        client = Client()
        if signed_in:
            client.force_login(owner)
        url = concrete(route, conversation, token.replace("/", "%2F") or "x")
        response = client.post(url, data)
        assert response.status_code < 500, (url, data)

    post()
