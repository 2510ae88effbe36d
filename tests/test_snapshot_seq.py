"""A snapshot taken mid-stream (a tab attaching, here or in another process) is covered by the
seq it is sent with: changes still waiting for the flush clock are published first, so the
frames after it never repeat text it shows (a remote tab saw "000 001 001 002")."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chat.turns import endpoint
from chat.turns.plan import plan_turn
from chat.turns.runner import TurnRunner
from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    def __init__(self) -> None:
        self.frames: list[tuple[int, str]] = []

    def publish(self, seq, state, changes):
        self.frames.append((seq, state.text))


async def test_a_mid_stream_snapshot_is_covered_by_its_seq(upstream, user):
    upstream.enqueue(fake.text_stream("abcd" * 100, chunk=4, delay=0.005))
    plan = await sync_to_async(plan_turn)(user=user, conversation_id=None, text="hi",
                                                   model="test-model")  # fmt: skip
    recorder = Recorder()
    # A long window: after the leading-edge frame, every delta waits for the clock.
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config(), publisher=recorder,
                        flush_interval=30.0)  # fmt: skip
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(500):
            if recorder.frames and len(runner.state.text) >= 40:
                break
            await asyncio.sleep(0.01)
        assert len(runner.state.text) > len(recorder.frames[-1][1])  # text awaits its frame
        runner.flush_pending()
        snapshot = runner.snapshot()
        assert recorder.frames[-1] == (runner.seq, snapshot.text)
        await task
    finally:
        task.cancel()
        await close_shared_client()
    texts = [text for _, text in recorder.frames]
    assert texts[-1] == "abcd" * 100
