"""TurnRunner with the real database and a loopback upstream: stored answers, stop, failures."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message, UsageRecord
from chat.turns import endpoint
from chat.turns.plan import TurnRejected, plan_turn
from chat.turns.runner import TurnRunner
from chat.upstream import errors
from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake
from tests.fixtures import JSONL, expected

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """Records published frames; lets a test wait for the n-th one without sleeping."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, str]] = []
        self.event = asyncio.Event()

    def publish(self, seq, state, changes):
        self.frames.append((seq, state.text))
        self.event.set()

    async def wait_for_text(self, min_chars: int) -> None:
        while not self.frames or len(self.frames[-1][1]) < min_chars:
            self.event.clear()
            await asyncio.wait_for(self.event.wait(), 5)


async def run_turn(
    user, text="hi", conversation_id=None, publisher=None, model="test-model", **kwargs
) -> TurnRunner:
    plan = await sync_to_async(plan_turn)(
        user=user, conversation_id=conversation_id, text=text, model=model
    )
    runner = TurnRunner(
        plan=plan, config=await endpoint.upstream_config(), publisher=publisher, **kwargs
    )
    try:
        await runner.run()
    finally:
        await close_shared_client()
    return runner


@sync_to_async
def stored(runner: TurnRunner) -> tuple[Message, list[UsageRecord]]:
    message = Message.objects.get(pk=runner.started.assistant_message_id)
    return message, list(message.usage_records.all())


@pytest.mark.parametrize("name", JSONL)
async def test_every_recording_is_stored_with_its_usage(upstream, user, name):
    upstream.enqueue(fake.jsonl_file(name))
    runner = await run_turn(user)
    message, usage = await stored(runner)
    truth = expected(name)
    assert message.status == truth.status
    assert message.text == truth.text
    assert message.response_id == truth.response_id
    assert message.done_at and message.queued_at and message.first_event_at
    assert message.lease_owner == ""
    assert [i["name"] for i in message.items if i["type"] == "function_call"] == [
        c["name"] for c in truth.tool_calls
    ]
    if truth.usage:
        assert len(usage) == 1 and not usage[0].estimated
        assert usage[0].total_tokens == truth.usage["total_tokens"]
        assert usage[0].input_tokens == truth.usage["input_tokens"]
        assert usage[0].model == truth.model
    else:
        assert len(usage) == 1 and usage[0].estimated  # it ran, but reported nothing
    assert message.error_code == (truth.error_code or "")


async def test_second_turn_sends_the_whole_history_as_input(upstream, user):
    upstream.enqueue(
        fake.jsonl_file("gpt5_moderation_stream.jsonl"), fake.text_stream("Berlin.", delay=0)
    )
    first = await run_turn(user, text="Capital of France?")
    await run_turn(user, text="And Germany?", conversation_id=first.started.conversation_id)
    sent = [r["json"] for r in upstream.requests if r["method"] == "POST"][-1]
    assert sent["input"] == [
        {"role": "user", "content": "Capital of France?"},
        {"type": "message", "role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And Germany?"},
    ]
    assert "previous_response_id" not in sent
    assert sent["stream"] is True


async def test_frames_are_coalesced_but_the_first_delta_goes_out_at_once(upstream, user):
    upstream.enqueue(fake.text_stream("abcd" * 50, chunk=4, delay=0.002))
    recorder = Recorder()
    runner = await run_turn(user, publisher=recorder, flush_interval=0.05)
    texts = [text for _, text in recorder.frames]
    assert "abcd" in texts  # the first delta was a frame of its own
    assert len(recorder.frames) < 50  # 50 deltas, far fewer frames
    assert [seq for seq, _ in recorder.frames] == list(range(1, len(recorder.frames) + 1))
    assert texts[-1] == "abcd" * 50 == runner.state.text


async def test_partial_text_is_checkpointed_while_streaming(upstream, user):
    upstream.enqueue(fake.text_stream("word " * 100, chunk=5, delay=0.01))
    recorder = Recorder()
    task = asyncio.create_task(run_turn(user, publisher=recorder))
    await recorder.wait_for_text(50)
    message = await sync_to_async(lambda: Message.objects.filter(role="assistant").latest("id"))()
    for _ in range(100):  # the first checkpoint runs in a worker thread; poll its result
        await sync_to_async(message.refresh_from_db)()
        if message.text:
            break
        await asyncio.sleep(0.02)
    assert message.status == "streaming"
    assert message.text.startswith("word")
    assert message.first_token_at is not None
    runner = await task
    final, _ = await stored(runner)
    assert final.status == "completed" and final.text == "word " * 100


async def test_cancel_keeps_the_partial_text_and_estimates_usage(upstream, user):
    upstream.enqueue(fake.text_stream("x" * 2000, chunk=4, delay=0.01))
    recorder = Recorder()
    plan = await sync_to_async(plan_turn)(user=user, conversation_id=None, text="go", model="m")
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config(), publisher=recorder)
    task = asyncio.create_task(runner.run())
    await recorder.wait_for_text(40)
    runner.cancel()
    snapshot = await task  # our own cancel is not an exception
    await close_shared_client()
    message, usage = await stored(runner)
    assert snapshot.status == message.status == "cancelled"
    assert 40 <= len(message.text) < 2000
    assert message.text == snapshot.text
    assert usage[0].estimated and usage[0].output_tokens == len(message.text) // 4


async def test_upstream_failure_is_stored_as_failed_with_its_reason(upstream, user):
    upstream.enqueue(
        fake.http_error(
            401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
        )
    )
    runner = await run_turn(user)
    message, usage = await stored(runner)
    assert message.status == "failed"
    assert message.error_code == "invalid_api_key"
    assert message.error_message == errors.BY_CODE["invalid_api_key"]
    assert usage == []  # nothing ran upstream, nothing to bill


async def test_stall_ends_as_failed_and_keeps_partial_text(upstream, user, settings):
    settings.UPSTREAM_IDLE_TIMEOUT = 0.3
    endpoint.reset()
    upstream.enqueue(
        fake.events([{"type": "response.output_text.delta", "delta": "so far"}], end="stall")
    )
    runner = await run_turn(user)
    message, _ = await stored(runner)
    assert (message.status, message.error_code, message.text) == (
        "failed",
        "idle_timeout",
        "so far",
    )


async def test_a_second_turn_while_one_is_live_is_rejected(upstream, user):
    upstream.enqueue(fake.jsonl_file("gpt5_moderation_stream.jsonl"))
    first = await run_turn(user)
    await sync_to_async(Message.objects.filter(pk=first.started.assistant_message_id).update)(
        status="streaming"
    )
    with pytest.raises(TurnRejected, match="still being written"):
        await sync_to_async(plan_turn)(
            user=user, conversation_id=first.started.conversation_id, text="again", model="m"
        )


async def test_foreign_conversation_is_rejected(upstream, user, other_user):
    upstream.enqueue(fake.jsonl_file("gpt5_moderation_stream.jsonl"))
    first = await run_turn(user)
    with pytest.raises(TurnRejected, match="not found"):
        await sync_to_async(plan_turn)(
            user=other_user, conversation_id=first.started.conversation_id, text="peek", model="m"
        )


@pytest.mark.parametrize("text,reason", [("   ", "empty"), ("x" * 40_000, "limit")])
def test_bad_messages_are_rejected_before_any_write(user, text, reason):
    with pytest.raises(TurnRejected, match=reason):
        plan_turn(user=user, conversation_id=None, text=text, model="m")
    assert not Message.objects.exists()


async def test_lease_is_renewed_while_the_upstream_is_silent(upstream, user, settings):
    settings.TURN_LEASE_SECONDS = 1.5
    settings.UPSTREAM_FIRST_EVENT_TIMEOUT = 3.0
    endpoint.reset()
    upstream.enqueue(fake.events([], end="stall"))
    plan = await sync_to_async(plan_turn)(user=user, conversation_id=None, text="wait", model="m")
    started = asyncio.Event()
    runner = TurnRunner(
        plan=plan, config=await endpoint.upstream_config(), on_started=lambda _: started.set()
    )
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), 5)
    message = await sync_to_async(Message.objects.get)(pk=runner.started.assistant_message_id)
    first_lease = message.lease_expires_at
    for _ in range(200):  # poll until a heartbeat moved the lease (every lease/3 s)
        await asyncio.sleep(0.05)
        await sync_to_async(message.refresh_from_db)()
        if message.lease_expires_at != first_lease:
            break
    assert message.lease_expires_at > first_lease
    assert message.status == "queued"  # no event yet: still queued, but alive
    runner.cancel()
    await task
    await close_shared_client()


def test_turns_per_minute_are_limited_per_person(user, other_user, settings):
    from django.core.cache import cache

    cache.clear()
    settings.CHAT_TURNS_PER_MINUTE = 2
    for _ in range(2):
        plan_turn(user=user, conversation_id=None, text="hi", model="m")
    with pytest.raises(TurnRejected, match="2 messages this minute"):
        plan_turn(user=user, conversation_id=None, text="hi", model="m")
    plan_turn(user=other_user, conversation_id=None, text="hi", model="m")  # others unaffected
