"""Who sees and who writes a conversation (chat/permissions.py), through pages and sockets."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser, User

from accounts.models import Membership, ReviewLog, Role, Team
from chat import permissions
from chat.consumers import READ_ONLY
from chat.models import Conversation, Message
from chat.turns.plan import TurnRejected, plan_turn
from tests import fake_upstream as fake
from tests.relay_client import communicator, connected, send

FINAL = 'id="turn-controls" class="turn-controls" data-live="false"'


def team_of(*people, name: str = "Research") -> Team:
    team = Team.objects.create(name=name)
    for person in people:
        Membership.objects.create(team=team, user=person, role=Role.MEMBER)
    return team


def staff(django_user_model, username: str = "sam") -> User:
    return django_user_model.objects.create_user(username=username, password="pw", is_staff=True)


def shared(owner, team: Team | None, title: str = "Plans") -> Conversation:
    return Conversation.objects.create(owner=owner, title=title, shared_with=team)


def has_composer(body: str) -> bool:
    return 'id="composer"' in body


# --- the rules ---


@pytest.mark.django_db
def test_rules_for_owner_stranger_team_member_and_staff(user, other_user, django_user_model):
    team = team_of(user, other_user)
    reviewer = staff(django_user_model)
    private = shared(user, None)
    with_team = shared(user, team)
    cases = [
        # who, conversation, can_view, can_write, is_review
        (user, private, True, True, False),
        (other_user, private, False, False, False),
        (other_user, with_team, True, False, False),
        (reviewer, private, True, False, True),
        (AnonymousUser(), private, False, False, False),
    ]
    for who, convo, view, write, review in cases:
        got = (
            permissions.can_view(who, convo),
            permissions.can_write(who, convo),
            permissions.is_review(who, convo),
        )
        assert got == (view, write, review), (who, convo.title)


@pytest.mark.django_db
def test_staff_in_the_shared_team_is_not_reviewing(user, django_user_model):
    reviewer = staff(django_user_model)
    convo = shared(user, team_of(user, reviewer))
    assert permissions.can_view(reviewer, convo) and not permissions.is_review(reviewer, convo)


@pytest.mark.django_db
def test_inactive_accounts_see_nothing(user, other_user):
    convo = shared(user, team_of(user, other_user))
    for person in (user, other_user):
        person.is_active = False
        assert not permissions.can_view(person, convo)
        assert not permissions.can_write(person, convo)


@pytest.mark.django_db
def test_a_share_ends_when_the_owner_leaves_the_team(user, other_user):
    team = team_of(user, other_user)
    convo = shared(user, team)
    assert list(permissions.shared_with(other_user)) == [convo]
    Membership.objects.filter(team=team, user=user).delete()
    assert not permissions.can_view(other_user, convo)
    assert list(permissions.shared_with(other_user)) == []


@pytest.mark.django_db
def test_plan_turn_still_requires_the_owner(user, other_user, django_user_model):
    convo = shared(user, team_of(user, other_user))
    for person in (other_user, staff(django_user_model)):
        with pytest.raises(TurnRejected):
            plan_turn(user=person, conversation_id=convo.pk, text="hi", model="m")
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(TurnRejected):  # the database says so, not the cached object
        plan_turn(user=user, conversation_id=convo.pk, text="hi", model="m")


# --- pages ---


@pytest.mark.django_db
def test_private_by_default_a_team_member_gets_404(client, user, other_user):
    team_of(user, other_user)
    convo = shared(user, None)
    client.force_login(other_user)
    assert client.get(f"/c/{convo.pk}/").status_code == 404
    assert "Shared with me" not in client.get("/", follow=True).content.decode()


@pytest.mark.django_db
def test_shared_conversation_is_read_only_for_the_team(client, user, other_user):
    convo = shared(user, team_of(user, other_user, name="Research"))
    Message.objects.create(conversation=convo, role="user", text="q")
    Message.objects.create(conversation=convo, role="assistant", status="streaming", text="part")
    client.force_login(other_user)
    body = client.get(f"/c/{convo.pk}/").content.decode()
    assert "Shared by alice with team Research — read only" in body
    assert not has_composer(body)
    assert 'id="stop-button"' not in body and 'value="retry"' not in body
    assert 'class="share-form"' not in body
    assert 'class="chat read-only"' in body and "part" in body
    home = client.get("/", follow=True).content.decode()
    assert "Shared with me" in home and f'href="/c/{convo.pk}/"' in home
    assert not ReviewLog.objects.exists()


@pytest.mark.django_db
def test_owner_page_has_the_composer_and_a_share_form_with_own_teams_only(client, user, other_user):
    team_of(user, name="Mine")
    team_of(other_user, name="Theirs")
    convo = shared(user, None)
    client.force_login(user)
    body = client.get(f"/c/{convo.pk}/").content.decode()
    assert has_composer(body) and "read only" not in body
    assert 'class="share-form"' in body and ">Mine<" in body and "Theirs" not in body


@pytest.mark.django_db
def test_only_the_owner_shares_and_only_with_their_own_team(client, user, other_user):
    mine = team_of(user, other_user, name="Both")
    theirs = team_of(other_user, name="Theirs")
    convo = shared(user, None)
    url = f"/c/{convo.pk}/share/"

    client.force_login(user)
    assert client.post(url, {"team": theirs.pk}).status_code == 403
    assert client.get(url).status_code == 405
    assert client.post(url, {"team": mine.pk})["Location"] == f"/c/{convo.pk}/"
    convo.refresh_from_db()
    assert convo.shared_with == mine

    client.force_login(other_user)  # a viewer now, still not the owner
    assert client.post(url, {"team": ""}).status_code == 403
    convo.refresh_from_db()
    assert convo.shared_with == mine

    client.force_login(user)
    client.post(url, {"team": ""})
    convo.refresh_from_db()
    assert convo.shared_with is None
    client.force_login(other_user)  # private again: not even a 403
    assert client.post(url, {"team": mine.pk}).status_code == 404


@pytest.mark.django_db
def test_share_form_needs_the_csrf_token(user):
    from django.test import Client

    team = team_of(user)
    convo = shared(user, None)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(f"/c/{convo.pk}/share/", {"team": team.pk}).status_code == 403
    convo.refresh_from_db()
    assert convo.shared_with is None


@pytest.mark.django_db
def test_staff_review_is_shown_and_logged_for_each_page_view(client, user, django_user_model):
    reviewer = staff(django_user_model)
    convo = shared(user, None, title="Private plans")
    client.force_login(reviewer)
    body = client.get(f"/c/{convo.pk}/").content.decode()
    client.get(f"/c/{convo.pk}/")
    assert "Staff review — this view is logged" in body and not has_composer(body)
    logs = list(ReviewLog.objects.order_by("id"))
    assert [(log.reviewer, log.conversation, log.via) for log in logs] == [
        (reviewer, convo, "page"),
        (reviewer, convo, "page"),
    ]
    assert "Private plans" in logs[0].conversation_label


@pytest.mark.django_db
def test_owner_views_are_not_logged(client, user):
    user.is_staff = True
    user.save()
    convo = shared(user, None)
    client.force_login(user)
    client.get(f"/c/{convo.pk}/")
    assert not ReviewLog.objects.exists()


@pytest.mark.django_db
def test_admin_conversation_list_links_to_the_read_only_view(admin_client, user):
    convo = shared(user, None)
    body = admin_client.get("/admin/chat/conversation/").content.decode()
    assert f'href="/c/{convo.pk}/"' in body
    assert admin_client.get(f"/c/{convo.pk}/").status_code == 200
    assert ReviewLog.objects.get().via == "page"


# --- sockets ---


async def frames_until(comm, *needles: str, wait: float = 5) -> str:
    """Collect frames until every needle has been seen."""
    seen = ""
    while not all(n in seen for n in needles):
        seen += await comm.receive_from(timeout=wait)
    return seen


@pytest.mark.django_db(transaction=True)
async def test_team_member_socket_is_refused_on_an_unshared_conversation(
    fresh_registry, user, other_user
):
    await sync_to_async(team_of)(user, other_user)
    convo = await sync_to_async(shared)(user, None)
    comm = await communicator(convo.pk, other_user)
    ok, code = await comm.connect()
    assert not ok and code == 4403
    assert await comm.receive_nothing()


@pytest.mark.django_db(transaction=True)
async def test_read_only_socket_follows_the_turn_but_cannot_command_it(
    fresh_registry, upstream, user, other_user
):
    convo = await sync_to_async(shared)(user, await sync_to_async(team_of)(user, other_user))
    upstream.enqueue(fake.text_stream("tick " * 150, chunk=5, delay=0.01))
    owner = await connected(convo.pk, user)
    viewer = await connected(convo.pk, other_user)
    await send(owner, action="send", message="count")
    await frames_until(viewer, "tick tick")  # live frames reach the viewer mid-turn

    for command in ({"action": "stop"}, {"action": "send", "message": "mine now"}):
        await send(viewer, **command)
    await send(viewer, action="retry", message=1)
    seen = await frames_until(viewer, FINAL)
    assert seen.count(READ_ONLY) == 3 and 'id="composer-error"' in seen

    answer = await sync_to_async(
        lambda: Message.objects.filter(conversation=convo, role="assistant").get()
    )()
    assert answer.status == "completed"  # the viewer's stop did nothing
    assert answer.text == "tick " * 150
    assert await sync_to_async(Message.objects.filter(conversation=convo).count)() == 2
    assert len([r for r in upstream.requests if r["method"] == "POST"]) == 1
    await send(viewer, action="send", message="still no")  # the socket stays open
    # The title event that follows a first answer may come first; the refusal must still come.
    await frames_until(viewer, READ_ONLY)  # fails by timeout if the refusal never comes
    await owner.disconnect()
    await viewer.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_viewer_joining_mid_turn_gets_the_snapshot(
    fresh_registry, upstream, user, other_user
):
    convo = await sync_to_async(shared)(user, await sync_to_async(team_of)(user, other_user))
    upstream.enqueue(fake.text_stream("".join(f"{i:03d} " for i in range(150)), delay=0.005))
    owner = await connected(convo.pk, user)
    await send(owner, action="send", message="count")
    await frames_until(owner, "010 ")
    viewer = await connected(convo.pk, other_user)
    snapshot = await viewer.receive_from(timeout=5)
    assert "000 001" in snapshot
    await frames_until(viewer, FINAL)
    await owner.disconnect()
    await viewer.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_staff_socket_is_read_only_and_logged(fresh_registry, user, django_user_model):
    reviewer = await sync_to_async(staff)(django_user_model)
    convo = await sync_to_async(shared)(user, None)
    comm = await connected(convo.pk, reviewer)
    await send(comm, action="send", message="hello")
    assert READ_ONLY in await comm.receive_from(timeout=5)
    log = await sync_to_async(ReviewLog.objects.select_related("reviewer").get)()
    assert (log.reviewer, log.conversation_id, log.via) == (reviewer, convo.pk, "socket")
    assert not await sync_to_async(Message.objects.exists)()
    await comm.disconnect()
