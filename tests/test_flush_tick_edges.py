"""The flush clock's edges (chat/turns/ticker.py) the mutation pass found unpinned: no
coalescing at all (`ask` runs with a flush interval of 0), the window before any turn
joined, counting turns out one at a time, and one set of clocks per thread that drops
the clocks of a loop that has ended."""

import asyncio
import threading

from chat.turns import ticker
from chat.turns.ticker import WIDEN_FROM, FlushTick, flush_tick


def noop() -> None:
    pass


async def test_without_an_interval_a_flush_is_due_exactly_when_asked():
    loop = asyncio.get_running_loop()
    for interval in (0.0, -0.005):  # 0: `ask`; below 0: a misconfiguration, never late
        tick = FlushTick(loop, interval)
        when = loop.time() + 0.0123
        tick.at(when, noop)
        assert tick.grain == 0.0 and list(tick.slots) == [when]


async def test_flushes_go_at_the_grid_line_at_or_before_their_due_time():
    loop = asyncio.get_running_loop()
    tick = FlushTick(loop, 0.030)
    base = (int(loop.time() / tick.grain) + 10) * tick.grain
    tick.at(base + tick.grain * 0.9, noop)
    assert list(tick.slots) == [base] and tick.pending() == 1


async def test_the_window_is_the_interval_before_any_turn_joins():
    tick = FlushTick(asyncio.get_running_loop(), 0.030, 0.040)
    assert tick.window == 0.030 and tick.live == 0


async def test_a_turn_leaving_counts_one_turn_out():
    tick = FlushTick(asyncio.get_running_loop(), 0.030, 0.040)
    for _ in range(WIDEN_FROM + 3):
        tick.join()
    tick.leave()
    assert tick.live == WIDEN_FROM + 2
    assert tick.window == tick.window_for(WIDEN_FROM + 2) > 0.030


def test_each_thread_has_its_own_clocks_and_drops_those_of_an_ended_loop():
    """A thread's first clock starts its set; a new loop in it replaces the old loop's
    clocks instead of keeping them (and their dead loop) alive."""
    seen: dict[str, object] = {}

    async def first() -> None:
        seen["first"] = flush_tick(0.030)
        flush_tick(0.050)
        seen["first_count"] = len(ticker._local.ticks)

    async def second() -> None:
        seen["second"] = flush_tick(0.030)
        seen["second_loop"] = asyncio.get_running_loop()
        seen["held"] = dict(ticker._local.ticks)

    def run() -> None:
        assert getattr(ticker._local, "ticks", None) is None  # a thread starts with none
        asyncio.run(first())
        asyncio.run(second())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen["first_count"] == 2
    assert seen["second"] is not seen["first"]
    assert seen["second"].loop is seen["second_loop"]
    assert list(seen["held"].values()) == [seen["second"]]  # the 50 ms clock died with its loop
