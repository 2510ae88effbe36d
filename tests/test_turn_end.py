"""One owner of a turn's end: a second Stop, a Stop racing the final event, and a cancel
during the final save change nothing; the answer is stored once, never left `streaming`."""

import asyncio
import random

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message, UsageRecord
from chat.turns import endpoint
from chat.turns.plan import plan_turn
from chat.turns.runner import TurnRunner
from chat.turns.save import finish_turn
from chat.turns.start import start_turn
from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
TRIES = 20


class Frames:
    """Lets a test wait, without sleeping, for the first frame that carries text."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def publish(self, seq, state, changes):
        if state.text:
            self.event.set()


async def started_runner(user, conversation_id=None) -> tuple[TurnRunner, asyncio.Task, Frames]:
    plan = await sync_to_async(plan_turn)(
        user=user, conversation_id=conversation_id, text="go", model="m"
    )
    frames = Frames()
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config(), publisher=frames)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(frames.event.wait(), 5)
    await rows_written(runner)  # they are written after the first frame (chat/turns/ids.py)
    return runner, task, frames


async def rows_written(runner: TurnRunner) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while runner.started is None:
        if loop.time() > deadline:
            raise AssertionError("the turn's rows were never written")
        await asyncio.sleep(0.001)


@sync_to_async
def stored(runner: TurnRunner) -> tuple[Message, int]:
    message = Message.objects.get(pk=runner.started.assistant_message_id)
    return message, UsageRecord.objects.filter(message=message).count()


async def final_save_begun(runner: TurnRunner) -> None:
    """Step the loop until the stream is over and the runner is storing its end (one loop
    step at a time, so the test acts at that moment; bounded by time, not by steps: a step
    costs more or less on another machine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        if runner._ending:
            return
        await asyncio.sleep(0)
    raise AssertionError("the runner never reached its final save")


async def pause(seconds: float) -> None:
    """A random gap of real time (or none at all): where the race falls differs each try."""
    if seconds:
        await asyncio.sleep(seconds)
    else:
        await asyncio.sleep(0)


async def test_two_stops_a_few_ms_apart_end_the_turn_once(upstream, user):
    rng = random.Random(13)
    conversation_id = None
    for attempt in range(TRIES):
        upstream.enqueue(fake.text_stream("word " * 300, chunk=5, delay=0.002))
        runner, task, _ = await started_runner(user, conversation_id)
        conversation_id = runner.started.conversation_id
        await pause(rng.choice([0, 0.001, 0.005, 0.01]))
        first = runner.cancel()
        await pause(rng.choice([0, 0.0005, 0.002, 0.004, 0.008]))
        second = runner.cancel()
        snapshot = await asyncio.wait_for(task, 10)
        message, usage_rows = await stored(runner)
        assert first and not second, attempt
        assert message.status == snapshot.status == "cancelled", attempt
        assert message.text == snapshot.text and message.text.startswith("word"), attempt
        assert message.lease_owner == "" and message.done_at is not None, attempt
        assert usage_rows == 1, attempt
    await close_shared_client()


async def test_stop_racing_the_final_event_keeps_one_honest_end(upstream, user):
    rng = random.Random(7)
    conversation_id = None
    text = "end " * 40
    seen = set()
    for attempt in range(TRIES):
        upstream.enqueue(fake.text_stream(text, chunk=8, delay=0.001))
        runner, task, _ = await started_runner(user, conversation_id)
        conversation_id = runner.started.conversation_id
        await pause(rng.uniform(0, 0.02))
        runner.cancel()
        runner.cancel()
        snapshot = await asyncio.wait_for(task, 10)
        message, usage_rows = await stored(runner)
        seen.add(message.status)
        assert message.status == snapshot.status, attempt
        assert message.status in ("cancelled", "completed"), attempt
        assert message.text == snapshot.text, attempt
        if message.status == "completed":
            assert message.text == text, attempt
        assert usage_rows == 1, attempt
    assert "completed" in seen or "cancelled" in seen
    await close_shared_client()


async def test_cancel_during_the_final_save_is_a_no_op(upstream, user):
    text = "saved " * 50
    upstream.enqueue(fake.text_stream(text, chunk=6, delay=0.001))
    runner, task, _ = await started_runner(user)
    await final_save_begun(runner)
    assert runner.cancel() is False
    assert runner.cancel(interrupt=True) is False
    snapshot = await asyncio.wait_for(task, 10)
    message, usage_rows = await stored(runner)
    assert message.status == snapshot.status == "completed"
    assert message.text == text and usage_rows == 1
    await close_shared_client()


async def test_cancelling_the_task_during_the_final_save_still_saves(upstream, user):
    """Ctrl-C or a shutdown cancelling the task itself: the save ends first, then it stops."""
    text = "kept " * 50
    upstream.enqueue(fake.text_stream(text, chunk=5, delay=0.001))
    runner, task, _ = await started_runner(user)
    await final_save_begun(runner)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    message, usage_rows = await stored(runner)
    assert message.status == "completed" and message.text == text and usage_rows == 1
    await close_shared_client()


async def test_stop_before_the_runner_began_sends_no_request(upstream, user):
    plan = await sync_to_async(plan_turn)(user=user, conversation_id=None, text="go", model="m")
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config())
    assert runner.cancel()
    snapshot = await asyncio.wait_for(runner.run(), 10)
    message, usage_rows = await stored(runner)
    assert message.status == snapshot.status == "cancelled"
    assert upstream.requests == [] and usage_rows == 0  # nothing ran upstream, nothing billed
    await close_shared_client()


@pytest.mark.django_db(transaction=True)
def test_a_second_finish_changes_nothing_and_adds_no_usage(user):
    from chat.turns.snapshot import TurnSnapshot

    plan = plan_turn(user=user, conversation_id=None, text="q", model="m")
    started = start_turn(plan=plan, lease_owner="runner-a")
    done = TurnSnapshot(status="completed", text="all of it", items=[], events=3)
    first = finish_turn(
        message_id=started.assistant_message_id, snapshot=done, lease_owner="runner-a"
    )
    later = TurnSnapshot(status="cancelled", text="all", items=[], events=2)
    again = finish_turn(
        message_id=started.assistant_message_id, snapshot=later, lease_owner="runner-a"
    )
    assert first.status == again.status == "completed" and again.text == "all of it"
    assert UsageRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_runner_that_lost_its_lease_cannot_end_the_turn(user):
    from chat.turns.snapshot import TurnSnapshot

    plan = plan_turn(user=user, conversation_id=None, text="q", model="m")
    started = start_turn(plan=plan, lease_owner="runner-b")  # b holds the lease
    stale = TurnSnapshot(status="cancelled", text="old", items=[], events=1)
    kept = finish_turn(
        message_id=started.assistant_message_id, snapshot=stale, lease_owner="runner-a"
    )
    assert kept.status == "queued" and kept.text == ""
    assert UsageRecord.objects.count() == 0


async def test_stop_from_two_tabs_at_once_twenty_times_while_another_person_streams(
    upstream, user, other_user
):
    """Over real sockets: two tabs press Stop a few ms apart; each time both tabs end on the
    stored text, the next message is accepted at once, and another person's answer, streaming
    all along, arrives whole."""
    from chat.models import Conversation
    from chat.turns import registry as registry_module
    from tests.relay_client import TabText, communicator, receive_until

    registry_module._registry = None
    rng = random.Random(5)
    final = 'data-live="false"'
    mine = await sync_to_async(Conversation.objects.create)(owner=user, title="mine")
    theirs = await sync_to_async(Conversation.objects.create)(owner=other_user, title="theirs")
    other_text = "".join(f"o{i:03d} " for i in range(600))
    upstream.enqueue(fake.text_stream(other_text, chunk=5, delay=0.003))
    other = await communicator(theirs.pk, other_user)
    assert (await other.connect())[0]
    await other.send_to(text_data='{"action": "send", "message": "long one"}')
    await receive_until(other, "o001 ")
    tabs = []
    for _ in range(2):
        comm = await communicator(mine.pk, user)
        assert (await comm.connect())[0]
        tabs.append(comm)
    for attempt in range(TRIES):
        upstream.enqueue(fake.text_stream("stop " * 400, chunk=5, delay=0.002))
        await tabs[0].send_to(text_data='{"action": "send", "message": "go"}')
        await receive_until(tabs[1], "stop stop")
        await tabs[0].send_to(text_data='{"action": "stop"}')
        await pause(rng.choice([0, 0.001, 0.003, 0.006]))
        await tabs[1].send_to(text_data='{"action": "stop"}')
        shown = [TabText(), TabText()]
        for tab, seen in zip(tabs, shown, strict=True):
            frames = await receive_until(tab, final, seen, wait=10)
            assert "badge-cancelled" in frames[-1], attempt  # never back to "Writing…"
        message = await sync_to_async(
            lambda: Message.objects.filter(conversation=mine, role="assistant").latest("id")
        )()
        assert message.status == "cancelled" and message.lease_owner == "", attempt
        assert shown[0].of(message.pk) == shown[1].of(message.pk) == message.text.strip(), attempt
        assert await sync_to_async(UsageRecord.objects.filter(message=message).count)() == 1
        assert not registry_module.registry().is_live(mine.pk)  # the next send is accepted
    other_tab = TabText()
    await receive_until(other, final, other_tab, wait=20)
    theirs_answer = await sync_to_async(
        lambda: Message.objects.filter(conversation=theirs, role="assistant").latest("id")
    )()
    assert theirs_answer.status == "completed" and theirs_answer.text == other_text
    for comm in (*tabs, other):
        await comm.disconnect()
    registry_module._registry = None
    await close_shared_client()


async def test_stop_racing_the_final_event_over_a_socket_shows_what_is_stored(upstream, user):
    """Stop pressed around the moment the answer ends, 20 times: the tab ends on exactly the
    stored status and text (completed or cancelled, never back to streaming)."""
    from chat.models import Conversation
    from chat.turns import registry as registry_module
    from tests.relay_client import TabText, communicator, receive_until

    registry_module._registry = None
    rng = random.Random(11)
    conversation = await sync_to_async(Conversation.objects.create)(owner=user, title="race")
    comm = await communicator(conversation.pk, user)
    assert (await comm.connect())[0]
    text = "".join(f"f{i:02d} " for i in range(40))
    for attempt in range(TRIES):
        upstream.enqueue(fake.text_stream(text, chunk=4, delay=0.001))
        await comm.send_to(text_data='{"action": "send", "message": "go"}')
        tab = TabText()
        await receive_until(comm, "f00", tab)
        await pause(rng.uniform(0, 0.06))
        await comm.send_to(text_data='{"action": "stop"}')
        frames = await receive_until(comm, 'data-live="false"', tab, wait=10)
        message = await sync_to_async(
            lambda: Message.objects.filter(conversation=conversation, role="assistant").latest("id")
        )()
        assert message.status in ("completed", "cancelled"), attempt
        assert f"badge-{message.status}" in frames[-1], attempt
        assert tab.of(message.pk) == message.text.strip(), attempt
        assert await sync_to_async(UsageRecord.objects.filter(message=message).count)() == 1
        if message.status == "completed":
            assert message.text == text, attempt
    await comm.disconnect()
    registry_module._registry = None
    await close_shared_client()
