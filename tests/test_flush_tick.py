"""The process's flush clock (chat/turns/ticker.py): turns due in the same grain share one
timer, a frame goes out at most one grain early and never late, and a turn that flushed by
itself leaves its slot."""

import asyncio

import pytest

from chat.turns.ticker import GRID_STEPS, FlushTick, flush_tick


class Turn:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.at: list[float] = []

    def flush(self) -> None:
        self.at.append(self.loop.time())


def timers(loop: asyncio.AbstractEventLoop) -> int:
    return len([h for h in loop._scheduled if not h.cancelled()])  # the loop's own timer heap


async def test_turns_due_together_share_one_timer_and_are_never_late():
    loop = asyncio.get_running_loop()
    tick = FlushTick(loop, 0.030)
    before = timers(loop)
    now = loop.time()
    turns = [Turn(loop) for _ in range(100)]
    line = (int(now / tick.grain) + 3) * tick.grain  # a grid line 10-15 ms from now
    # All within one grain and never on its edge: `line / grain` computed in floats may
    # land just below the integer, which put a due time of exactly `line` a grain earlier.
    dues = [line + (i + 0.5) * tick.grain / 200 for i in range(100)]
    for turn, due in zip(turns, dues, strict=True):
        tick.at(due, turn.flush)
    assert timers(loop) - before == 1 and tick.pending() == 100
    # At least 20 ms past the line: when slow scheduling (a loaded machine, mutmut's
    # trampolines) already passed it, a negative sleep would check before the timer ran.
    await asyncio.sleep(max(line - loop.time(), 0) + 0.02)
    assert all(len(t.at) == 1 for t in turns) and tick.pending() == 0
    for turn, due in zip(turns, dues, strict=True):
        assert due - tick.grain - 1e-6 <= turn.at[0]  # at most one grain early
    assert tick.grain == pytest.approx(0.030 / GRID_STEPS)


async def test_a_turn_that_flushed_by_itself_leaves_its_slot():
    loop = asyncio.get_running_loop()
    tick = FlushTick(loop, 0.030)
    early, late = Turn(loop), Turn(loop)
    slot = tick.at(loop.time() + 0.01, early.flush)
    tick.at(loop.time() + 0.01, late.flush)
    slot.pop(early.flush, None)  # what the runner does when a structural event flushed it
    await asyncio.sleep(0.03)
    assert early.at == [] and len(late.at) == 1


async def test_one_clock_per_loop_and_interval():
    assert flush_tick(0.030) is flush_tick(0.030)
    assert flush_tick(0.050) is not flush_tick(0.030)
    assert flush_tick(0.030).loop is asyncio.get_running_loop()


async def test_flushes_due_at_once_go_together_after_the_running_callbacks():
    loop = asyncio.get_running_loop()
    tick = FlushTick(loop, 0.030)
    turns = [Turn(loop) for _ in range(3)]
    before = timers(loop)
    slot = tick.soon(turns[0].flush)
    assert tick.soon(turns[1].flush) is slot and tick.soon(turns[0].flush) is slot
    assert timers(loop) == before  # no timer: the next step of the loop
    assert [t.at for t in turns] == [[], [], []]  # not while the caller runs
    await asyncio.sleep(0)
    assert [len(t.at) for t in turns] == [1, 1, 0] and tick.pending() == 0
    again = tick.soon(turns[2].flush)  # a later read: a slot of its own
    assert again is not slot
    await asyncio.sleep(0)
    assert [len(t.at) for t in turns] == [1, 1, 1]


async def test_a_turn_due_at_once_that_flushed_by_itself_is_not_flushed_again():
    loop = asyncio.get_running_loop()
    tick = FlushTick(loop, 0.030)
    turn = Turn(loop)
    tick.soon(turn.flush).pop(turn.flush, None)  # what the runner's own flush does
    await asyncio.sleep(0)
    assert turn.at == [] and tick.pending() == 0
