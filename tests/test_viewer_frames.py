"""Read-only viewers (a team share) never receive write controls in live frames: no Stop while
an answer is written, no Retry when it failed, whether they watched from the start or attached
mid-stream; the owner's tabs get both."""

import pytest
from asgiref.sync import sync_to_async

from accounts.models import Membership, Role, Team
from chat.models import Conversation
from tests import fake_upstream as fake
from tests.relay_client import TabText, connected, receive_until, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_registry")]
FINAL = 'data-live="false"'
STOP = 'value="stop"'
RETRY = 'value="retry"'


@pytest.fixture
def shared_conversation(user, other_user):
    team = Team.objects.create(name="Research")
    for person in (user, other_user):
        Membership.objects.create(team=team, user=person, role=Role.MEMBER)
    return Conversation.objects.create(owner=user, title="Plans", shared_with=team)


async def test_viewer_frames_carry_no_stop_and_no_retry(
    upstream, shared_conversation, user, other_user
):
    upstream.enqueue(
        fake.text_stream("shared " * 200, chunk=7, delay=0.005),
        fake.http_error(400, {"error": {"message": "bad", "type": "invalid_request_error"}}),
    )
    owner = await connected(shared_conversation.pk, user)
    viewer = await connected(shared_conversation.pk, other_user)
    await send(owner, action="send", message="go")
    owner_tab, viewer_tab = TabText(), TabText()
    await receive_until(viewer, "shared shared", viewer_tab)
    late = await connected(shared_conversation.pk, other_user)  # attaches mid-stream: a snapshot
    seen_owner = await receive_until(owner, FINAL, owner_tab)
    seen_viewer = await receive_until(viewer, FINAL, viewer_tab)
    seen_late = await receive_until(late, FINAL)
    assert STOP in "".join(seen_owner)
    assert STOP not in "".join(seen_viewer) and STOP not in "".join(seen_late)
    assert "shared shared" in "".join(seen_late)  # the snapshot did arrive, without the control
    assert viewer_tab.text == owner_tab.text and owner_tab.text  # same words for everyone

    await send(owner, action="send", message="again")
    failed_owner = "".join(await receive_until(owner, FINAL, wait=20))
    failed_viewer = "".join(await receive_until(viewer, FINAL, wait=20))
    assert "badge-failed" in failed_owner and "badge-failed" in failed_viewer
    assert RETRY in failed_owner and RETRY not in failed_viewer

    reopened = await connected(shared_conversation.pk, other_user)  # after the end: stored frame
    first = await reopened.receive_from(timeout=5)
    assert "badge-failed" in first and RETRY not in first and STOP not in first
    for comm in (owner, viewer, late, reopened):
        await comm.disconnect()


async def test_viewer_commands_are_still_refused(upstream, shared_conversation, other_user):
    viewer = await connected(shared_conversation.pk, other_user)
    await send(viewer, action="stop")
    frame = await viewer.receive_from(timeout=5)
    assert "read only" in frame
    assert not await sync_to_async(shared_conversation.messages.exists)()
    await viewer.disconnect()
