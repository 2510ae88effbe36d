"""Access re-checked for sockets already open: made private again, deactivated, removed from the
team. The tab that lost access is told why and closed, and gets no frame after that; the
owner's stream goes on and is stored whole."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from accounts.models import Membership, Role, Team
from chat.models import Conversation, Message
from tests import fake_upstream as fake
from tests.relay_client import TabText, communicator, connected, receive_until, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_registry")]
FINAL = 'data-live="false"'
REVOKED = "You no longer have access"
TEXT = "".join(f"w{i:03d} " for i in range(250))


@pytest.fixture
def team(user, other_user):
    team = Team.objects.create(name="Research")
    for person in (user, other_user):
        Membership.objects.create(team=team, user=person, role=Role.MEMBER)
    return team


@pytest.fixture
def shared_conversation(user, team):
    return Conversation.objects.create(owner=user, title="Plans", shared_with=team)


async def closed_with_reason(comm) -> None:
    """The next frames: the reason, then the close (4403); nothing of the stream after it."""
    while True:
        frame = await comm.receive_from(timeout=5)
        if REVOKED in frame:
            break
    closing = await comm.receive_output(timeout=5)
    assert closing == {"type": "websocket.close", "code": 4403}


async def streaming_to_both(upstream, conversation, owner, viewer):
    upstream.enqueue(fake.text_stream(TEXT, chunk=5, delay=0.004))
    owner_comm = await connected(conversation.pk, owner)
    viewer_comm = await connected(conversation.pk, viewer)
    await send(owner_comm, action="send", message="go")
    owner_tab = TabText()
    await receive_until(viewer_comm, "w010 ")
    await receive_until(owner_comm, "w010 ", owner_tab)
    return owner_comm, viewer_comm, owner_tab


async def owner_sees_the_whole_answer(owner_comm, owner_tab, conversation) -> None:
    await receive_until(owner_comm, FINAL, owner_tab, wait=15)
    message = await sync_to_async(
        lambda: Message.objects.filter(conversation=conversation, role="assistant").latest("id")
    )()
    assert message.status == "completed" and message.text == TEXT
    assert owner_tab.of(message.pk) == TEXT.strip()


async def test_made_private_again_closes_the_team_members_tab(
    upstream, shared_conversation, user, other_user
):
    owner_comm, viewer_comm, owner_tab = await streaming_to_both(
        upstream, shared_conversation, user, other_user
    )

    def make_private():
        client = Client()
        client.force_login(user)
        done = client.post(f"/c/{shared_conversation.pk}/share/", {"team": ""})
        assert done.status_code == 302

    await sync_to_async(make_private)()
    await closed_with_reason(viewer_comm)
    await owner_sees_the_whole_answer(owner_comm, owner_tab, shared_conversation)
    reopened = await communicator(shared_conversation.pk, other_user)
    ok, code = await reopened.connect()
    assert not ok and code == 4403
    await owner_comm.disconnect()


async def test_removed_from_the_team_closes_their_tab(
    upstream, shared_conversation, user, other_user, team
):
    owner_comm, viewer_comm, owner_tab = await streaming_to_both(
        upstream, shared_conversation, user, other_user
    )
    await sync_to_async(Membership.objects.filter(team=team, user=other_user).delete)()
    await closed_with_reason(viewer_comm)
    await owner_sees_the_whole_answer(owner_comm, owner_tab, shared_conversation)
    await owner_comm.disconnect()


async def test_deactivated_owner_tab_closes_and_cannot_stop_but_the_answer_is_saved(
    upstream, shared_conversation, user, other_user, django_user_model
):
    upstream.enqueue(fake.text_stream(TEXT, chunk=5, delay=0.004))
    owner_comm = await connected(shared_conversation.pk, user)
    second_tab = await connected(shared_conversation.pk, user)
    viewer_comm = await connected(shared_conversation.pk, other_user)
    await send(owner_comm, action="send", message="go")
    await receive_until(owner_comm, "w010 ")

    def deactivate_in_the_admin():
        staff = django_user_model.objects.create_superuser("root", password="pw-root-123")
        client = Client()
        client.force_login(staff)
        done = client.post(
            "/admin/auth/user/",
            {"action": "deactivate", "_selected_action": [user.pk]},
        )
        assert done.status_code == 302

    await sync_to_async(deactivate_in_the_admin)()
    await closed_with_reason(owner_comm)
    await closed_with_reason(second_tab)
    # The team member still sees the stream go on; a closed tab is no Stop.
    viewer_tab = TabText()
    await receive_until(viewer_comm, FINAL, viewer_tab, wait=15)
    message = await sync_to_async(
        lambda: Message.objects.filter(conversation=shared_conversation, role="assistant").latest(
            "id"
        )
    )()
    assert message.status == "completed" and message.text == TEXT
    await viewer_comm.disconnect()


async def test_a_stop_racing_the_deactivation_is_refused(upstream, shared_conversation, user):
    upstream.enqueue(fake.text_stream(TEXT, chunk=5, delay=0.004))
    owner_comm = await connected(shared_conversation.pk, user)
    await send(owner_comm, action="send", message="go")
    await receive_until(owner_comm, "w010 ")
    # Deactivated by a plain UPDATE (no signal, no notice): the Stop itself checks access.
    await sync_to_async(type(user).objects.filter(pk=user.pk).update)(is_active=False)
    await send(owner_comm, action="stop")
    frames = await receive_until(owner_comm, REVOKED)
    assert REVOKED in frames[-1]
    await receive_until(owner_comm, FINAL, wait=15)
    message = await sync_to_async(
        lambda: Message.objects.filter(conversation=shared_conversation, role="assistant").latest(
            "id"
        )
    )()
    assert message.status == "completed" and message.text == TEXT
    await owner_comm.disconnect()
