"""The coalescing window widens under load (chat/turns/ticker.py): the flush interval with few
live turns, wider with many, never past its cap (CHAT_FLUSH_INTERVAL_MAX_MS, within the 50 ms
p99 goal); a running turn's frames follow it, and its first token still goes out at once."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from chat.turns import endpoint
from chat.turns.plan import plan_turn
from chat.turns.runner import TurnRunner
from chat.turns.ticker import WIDEN_FROM, WIDEST_AT, FlushTick, flush_tick
from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake

BASE, CAP = 0.030, 0.040


async def test_the_window_is_the_interval_with_few_turns_and_the_cap_with_many():
    tick = FlushTick(asyncio.get_running_loop(), BASE, CAP)
    assert tick.window_for(0) == tick.window_for(WIDEN_FROM) == BASE
    assert tick.window_for(WIDEST_AT) == pytest.approx(CAP)
    assert tick.window_for(WIDEST_AT * 10) == pytest.approx(CAP)  # capped, however many
    middle = tick.window_for((WIDEN_FROM + WIDEST_AT) // 2)
    assert BASE < middle < CAP
    windows = [tick.window_for(live) for live in range(WIDEST_AT + 50)]
    assert windows == sorted(windows)  # it only widens as turns are added


async def test_the_window_follows_turns_joining_and_leaving():
    tick = FlushTick(asyncio.get_running_loop(), BASE, CAP)
    for _ in range(WIDEST_AT):
        tick.join()
    assert tick.live == WIDEST_AT and tick.window == pytest.approx(CAP)
    for _ in range(WIDEST_AT - WIDEN_FROM):
        tick.leave()
    assert tick.window == BASE
    for _ in range(WIDEST_AT):
        tick.leave()
    assert tick.live == 0 and tick.window == BASE  # never below zero


async def test_a_cap_below_the_interval_never_narrows_it():
    tick = FlushTick(asyncio.get_running_loop(), 0.050, CAP)
    assert tick.window_for(WIDEST_AT) == 0.050


def test_the_default_cap_keeps_the_p99_goal():
    assert settings.CHAT_FLUSH_INTERVAL_MAX == CAP  # the documented default
    assert settings.CHAT_FLUSH_INTERVAL < settings.CHAT_FLUSH_INTERVAL_MAX <= 0.040


class Timed:
    """Records each published frame's text and loop time."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, str]] = []

    def publish(self, seq, state, changes):
        self.frames.append((asyncio.get_running_loop().time(), state.text))


async def runner_for(user, on_started=None) -> TurnRunner:
    plan = await sync_to_async(plan_turn)(
        user=user, conversation_id=None, text="hi", model="test-model"
    )
    config = await endpoint.upstream_config()
    return TurnRunner(plan=plan, config=config, publisher=Timed(), on_started=on_started)


def streaming_gaps(frames: list[tuple[float, str]], full: str) -> list[float]:
    """Seconds between the frames that carried text while it streamed (the end's frames,
    structural, go out at once and are left out)."""
    times = [at for at, text in frames if text and text != full]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


@pytest.mark.django_db(transaction=True)
async def test_under_load_frames_come_a_wide_window_apart_and_the_first_token_at_once(
    upstream, user
):
    full = "abcd" * 200
    gate = fake.Gate()
    upstream.enqueue(fake.text_stream(full, chunk=4, delay=0.002, gate=gate))
    tick = flush_tick(settings.CHAT_FLUSH_INTERVAL, settings.CHAT_FLUSH_INTERVAL_MAX)
    for _ in range(WIDEST_AT):
        tick.join()  # as many live turns as make the window its widest
    rows = asyncio.Event()
    runner = await runner_for(user, on_started=lambda started: rows.set())
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(rows.wait(), 10)  # the rows are written: frames go out at once
        assert tick.live == WIDEST_AT + 1 and tick.window == pytest.approx(CAP)
        gate.open()
        await asyncio.wait_for(task, 20)
    finally:
        for _ in range(WIDEST_AT):
            tick.leave()
        await close_shared_client()
    frames = runner.publisher.frames
    texts = [text for _, text in frames if text]
    assert texts[0] == "abcd"  # the first token: a frame of its own, not held for the window
    assert texts[-1] == full == runner.state.text
    gaps = streaming_gaps(frames, full)
    # At least the widened window apart, less the one grain the clock may fire early.
    assert len(gaps) >= 5 and min(gaps) >= CAP - tick.grain - 0.001 > BASE
    assert tick.live == 0  # the finished turn left the count


@pytest.mark.django_db(transaction=True)
async def test_with_few_turns_the_window_stays_the_interval(upstream, user):
    full = "abcd" * 200
    upstream.enqueue(fake.text_stream(full, chunk=4, delay=0.002))
    runner = await runner_for(user)
    try:
        await asyncio.wait_for(runner.run(), 20)
    finally:
        await close_shared_client()
    tick = flush_tick(settings.CHAT_FLUSH_INTERVAL, settings.CHAT_FLUSH_INTERVAL_MAX)
    assert tick.live == 0 and tick.window == BASE
    gaps = streaming_gaps(runner.publisher.frames, full)
    # Some gaps are shorter than the widened window would allow: one turn does not widen it.
    assert len(gaps) >= 5 and min(gaps) >= BASE - tick.grain - 0.001
    assert min(gaps) < CAP - tick.grain
