"""Every URL and socket route, as every kind of person: the expected outcome of each, in one table.

The URLs are walked from project/urls.py's resolver and the socket routes from chat/routing.py,
so a route added later without a row in MATRIX fails `test_every_route_has_a_row`.

Who is who (conversation C belongs to the owner and is shared with team T):
- anonymous: no session;
- owner: wrote C;
- stranger: another person, in no team with the owner;
- teammate: shares team U with the owner, but C is not shared with U;
- viewer: in team T, with whom C is shared read-only;
- staff: `is_staff` reviewer (no model permissions granted in the admin);
- deactivated: a member of T whose account was deactivated after signing in.
"""

import json
import re
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Invite, Membership, ReviewLog, Role, Team
from chat.consumers import READ_ONLY
from chat.images import store_images
from chat.models import Conversation, Message
from chat.routing import websocket_urlpatterns
from project.asgi import application
from tests.relay_client import session_headers

ROLES = ("anonymous", "owner", "stranger", "teammate", "viewer", "staff", "deactivated")

# Outcomes. HTTP: a status code ("200 composer": the page with the composer, i.e. writable),
# LOGIN / ADMIN_LOGIN (302 to the sign-in page), OWN (302 to one of the person's own
# conversations), REDIRECT (302 anywhere else). Sockets: a close code, or open and either
# taking commands (WS_RW) or refusing them as read only (WS_RO).
LOGIN, ADMIN_LOGIN, OWN, REDIRECT = "login", "admin-login", "own", "redirect"
WS_RW, WS_RO = "open, commands taken", "open, commands refused"
# Staff without model permissions in the admin: in, but each model page answers for itself.
STAFF_ADMIN = frozenset({"200", "302", REDIRECT, "403", "404"})

# fmt: off
MATRIX: dict[str, tuple[str, tuple]] = {
    # route key: (method, (anonymous, owner, stranger, teammate, viewer, staff, deactivated))
    "home":                  ("GET",  (LOGIN, OWN, OWN, OWN, OWN, OWN, LOGIN)),
    "new_conversation":      ("POST", (LOGIN, OWN, OWN, OWN, OWN, OWN, LOGIN)),
    "conversation":          ("GET",  (LOGIN, "200 composer", "404", "404", "200", "200", LOGIN)),
    "share_conversation":    ("POST", (LOGIN, OWN, "404", "404", "403", "403", LOGIN)),
    "generated_image":       ("GET",  (LOGIN, "200", "404", "404", "200", "200", LOGIN)),
    "conversation_tools":    ("POST", (LOGIN, OWN, "404", "404", "403", "403", LOGIN)),
    "conversation_settings": ("POST", (LOGIN, OWN, "404", "404", "403", "403", LOGIN)),
    "my_usage":              ("GET",  (LOGIN, "200", "200", "200", "200", "200", LOGIN)),
    # History (chat/history/): search and list only ever cover the person's own and shared.
    "history:index":         ("GET",  (LOGIN, "200", "200", "200", "200", "200", LOGIN)),
    "history:export_all":    ("GET",  (LOGIN, "200", "200", "200", "200", "200", LOGIN)),
    "history:import":        ("POST", (LOGIN, "400", "400", "400", "400", "400", LOGIN)),  # no file
    "history:rename":        ("POST", (LOGIN, "200", "404", "404", "403", "404", LOGIN)),
    "history:archive":       ("POST", (LOGIN, "200", "404", "404", "403", "404", LOGIN)),
    "history:delete":        ("POST", (LOGIN, "204", "404", "404", "403", "404", LOGIN)),
    "history:export":        ("GET",  (LOGIN, "200", "404", "404", "200", "404", LOGIN)),
    "history:review":        ("GET",  (LOGIN, "200", "404", "404", "200", "200", LOGIN)),
    "healthz":               ("GET",  ("200",) * 7),
    "readyz":                ("GET",  ("200",) * 7),
    "invite":                ("GET",  ("200",) * 7),
    "login":                 ("GET",  ("200",) * 7),
    "logout":                ("GET",  ("405",) * 7),  # signing out is a POST
    "password_change":       ("GET",  (LOGIN, "200", "200", "200", "200", "200", LOGIN)),
    "password_change_done":  ("GET",  (LOGIN, "200", "200", "200", "200", "200", LOGIN)),
    "password_reset":        ("GET",  ("200",) * 7),
    "password_reset_done":   ("GET",  ("200",) * 7),
    "password_reset_confirm": ("GET", ("200",) * 7),  # an invalid link: a page that says so
    "password_reset_complete": ("GET", ("200",) * 7),
    "admin:login":           ("GET",  ("200", "200", "200", "200", "200", REDIRECT, "200")),
    "admin:logout":          ("GET",  (REDIRECT,) * 5 + ("405", REDIRECT)),  # to /admin/
    # Every other admin page, present and future (each model's list, add, change, delete, ...).
    "admin:*":               ("GET",  (ADMIN_LOGIN,) * 5 + (STAFF_ADMIN, ADMIN_LOGIN)),
    "ws:^ws/conversations/(?P<conversation_id>[0-9]{1,18})/$":
                             ("WS",   ("close 4401", WS_RW, "close 4403", "close 4403", WS_RO,
                                       WS_RO, "close 4401")),
    "ws:":                   ("WS",   ("close 4404",) * 7),  # any other socket path
}
# fmt: on


def walk(patterns, prefix: str = "", namespace: str = ""):
    """(route, "namespace:name") of every URL pattern, includes followed."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), f"{namespace}:{pattern.name}".lstrip(":")


def route_key(route: str, name: str) -> str:
    """The row for a route: its name; admin pages share one row; an unnamed URL its route."""
    if name in MATRIX:
        return name
    if name.startswith("admin:"):
        return "admin:*"
    return route if name.endswith("None") else name


def http_routes() -> list[tuple[str, str]]:
    return [(route_key(route, name), route) for route, name in walk(get_resolver().url_patterns)]


def socket_routes() -> list[str]:
    return [f"ws:{p.pattern}" for p in websocket_urlpatterns]


def socket_path(route: str, world: "World") -> str:
    if "conversation_id" in route:
        return f"/ws/conversations/{world.conversation.pk}/"
    return "/ws/no-such-socket/"


def test_every_route_has_a_row():
    keys = {key for key, _ in http_routes()} | set(socket_routes())
    assert not keys - set(MATRIX), f"routes without a row in MATRIX: {sorted(keys - set(MATRIX))}"
    assert not set(MATRIX) - keys, f"rows for routes that no longer exist: {set(MATRIX) - keys}"


@dataclass
class World:
    people: dict  # role -> user, or None for anonymous
    conversation: Conversation
    team: Team
    invite: Invite
    image_id: int  # a generated image in C


@pytest.fixture
def world(django_user_model, settings, tmp_path) -> World:
    make = django_user_model.objects.create_user  # no password: no slow hashing, force_login
    people = {
        "anonymous": None,
        "owner": make(username="owner"),
        "stranger": make(username="stranger"),
        "teammate": make(username="teammate"),
        "viewer": make(username="viewer"),
        "staff": make(username="staff", is_staff=True),
        "deactivated": make(username="gone"),
    }
    shared_team, other_team = Team.objects.create(name="T"), Team.objects.create(name="U")
    for team, members in ((shared_team, ("owner", "viewer", "deactivated")),
                          (other_team, ("owner", "teammate"))):  # fmt: skip
        for role in members:
            Membership.objects.create(team=team, user=people[role], role=Role.MEMBER)
    conversation = Conversation.objects.create(
        owner=people["owner"], title="C", shared_with=shared_team
    )
    invite = Invite.objects.create(created_by=people["owner"])
    settings.MEDIA_ROOT = tmp_path
    # On a user row: an assistant row would be the "latest answer" the sockets are sent first.
    answer = Message.objects.create(conversation=conversation, role="user", text="draw")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
    refs = store_images(
        message_id=answer.pk,
        conversation_id=conversation.pk,
        images={0: (png, "image/png")},
        items=[],
    )
    return World(people, conversation, shared_team, invite, refs[0]["id"])


def signed_in(world: World, role: str) -> Client:
    client = Client()
    person = world.people[role]
    if person is not None:
        client.force_login(person)
        if role == "deactivated":
            type(person).objects.filter(pk=person.pk).update(is_active=False)
    return client


def sample_url(route: str, world: World) -> str:
    """A concrete URL for a route: the conversation under test, real tokens, real ids."""
    if "(?P<app_label>" in route:
        return "/admin/chat/"
    if "(?P<url>" in route:
        return "/admin/no-such-page/"
    values = {
        "conversation_id": world.conversation.pk,
        "kind": "json",
        "token": world.invite.token,
        "uidb64": "MQ",
        "object_id": world.conversation.pk,
        "content_type_id": 1,
        "id": world.people["owner"].pk,
        "image_id": world.image_id,
    }
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


def outcome(response, person) -> str:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/accounts/login/"):
            return LOGIN
        if location.startswith("/admin/login/"):
            return ADMIN_LOGIN
        own = re.fullmatch(r"/c/(\d+)/", location)
        if own and person and Conversation.objects.filter(pk=own[1], owner=person).exists():
            return OWN
        return REDIRECT
    if response.streaming:  # a file (a generated image, the zip export): its status says enough
        return str(response.status_code)
    if response.status_code == 200 and b'id="composer"' in response.content:
        return "200 composer"
    return str(response.status_code)


def matches(expected, got: str) -> bool:
    return got in expected if isinstance(expected, frozenset) else got == expected


@pytest.mark.django_db
@pytest.mark.parametrize("role", [r for r in ROLES])
def test_every_url_answers_each_person_as_the_table_says(role, world, upstream):
    column = ROLES.index(role)
    client = signed_in(world, role)
    wrong = []
    for key, route in http_routes():
        method, expected = MATRIX[key]
        url = sample_url(route, world)
        if method == "POST":
            response = client.post(url, {"team": world.team.pk})
        else:
            response = client.get(url)
        got = outcome(response, world.people[role])
        if not matches(expected[column], got):
            wrong.append(f"{method} {url}: expected {expected[column]}, got {got}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)
    # The shared conversation is untouched by everyone's posts (only the owner re-shared it as
    # is, and then deleted it: history:delete is the last route).
    if role == "owner":
        assert not Conversation.objects.filter(pk=world.conversation.pk).exists()
        return
    world.conversation.refresh_from_db()
    assert world.conversation.shared_with_id == world.team.pk
    assert world.conversation.title == "C" and world.conversation.archived_at is None


@pytest.mark.django_db
def test_a_staff_page_view_is_logged_as_a_review(world, upstream):
    client = signed_in(world, "staff")
    assert client.get(f"/c/{world.conversation.pk}/").status_code == 200
    assert ReviewLog.objects.filter(
        reviewer=world.people["staff"], conversation=world.conversation, via="page"
    ).exists()


async def socket_outcome(world: World, role: str, path: str) -> str:
    person = world.people[role]
    # Signed in first (the cookie exists); the deactivated person is deactivated after that.
    headers = await sync_to_async(session_headers)(person)
    if role == "deactivated":
        await sync_to_async(type(person).objects.filter(pk=person.pk).update)(is_active=False)
    comm = WebsocketCommunicator(application, path, headers=headers)
    ok, code = await comm.connect()
    if not ok:
        return f"close {code}"
    # Stop, and the branch commands (chat/branches.py): a version switch and an edit, each
    # aimed at no message so a writer gets the command's own refusal, never READ_ONLY.
    commands = [
        ({"action": "stop"}, "There is no answer being written to stop."),
        ({"action": "switch", "message": 0}, "That version is not in this conversation."),
        ({"action": "edit", "message": 0, "text": "x"}, "That question cannot be edited."),
        ({"action": "retry", "message": 0}, "That answer cannot be retried."),
    ]
    outcomes = set()
    try:
        for command, writer_answer in commands:
            await comm.send_to(text_data=json.dumps(command))
            frame = await comm.receive_from(timeout=5)
            if READ_ONLY in frame:
                outcomes.add(WS_RO)
            else:
                assert writer_answer in frame, frame
                outcomes.add(WS_RW)
    finally:
        await comm.disconnect()
    assert len(outcomes) == 1, outcomes  # every command answered as the same kind of person
    return outcomes.pop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_registry")
@pytest.mark.parametrize("role", ROLES)
async def test_the_socket_answers_each_person_as_the_table_says(role, world, upstream):
    for route in socket_routes():
        _, expected = MATRIX[route]
        got = await socket_outcome(world, role, socket_path(route, world))
        assert got == expected[ROLES.index(role)], route
