"""One flush clock for the whole process: the coalesced frames of every running turn that are
due in the same few milliseconds go out in one timer callback.

Per-turn timers cost one `call_at` and one cancel per frame per turn (at 400 streams, ~13 000
timer handles a second); here a turn's due flush joins the slot of the grid line at or just
before its due time (the grid is a sixth of the flush interval: 5 ms for 30 ms), so at most
six timers are live at once and every socket's frame of a slot is queued in one pass. A
frame goes out at most one grain early, never late: the 0-30 ms coalescing window stays.
"""

import asyncio
import math
import threading
from collections.abc import Callable

GRID_STEPS = 6  # grid lines per flush interval

_local = threading.local()  # one clock per event loop (a thread runs one loop at a time)


class FlushTick:
    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.grain = interval / GRID_STEPS if interval > 0 else 0.0
        self.slots: dict[float, dict[Callable[[], None], None]] = {}

    def at(self, when: float, flush: Callable[[], None]) -> dict[Callable[[], None], None]:
        """Call `flush` at the grid line at or before `when`; returns the slot, from which the
        caller removes `flush` (`slot.pop(flush, None)`) if it flushed earlier by itself."""
        line = math.floor(when / self.grain) * self.grain if self.grain else when
        slot = self.slots.get(line)
        if slot is None:
            slot = self.slots[line] = {}
            self.loop.call_at(line, self._fire, line)
        slot[flush] = None
        return slot

    def _fire(self, line: float) -> None:
        for flush in list(self.slots.pop(line, ())):
            flush()

    def pending(self) -> int:
        return sum(len(slot) for slot in self.slots.values())


def flush_tick(interval: float) -> FlushTick:
    """The running loop's clock for this flush interval."""
    loop = asyncio.get_running_loop()
    ticks: dict[float, FlushTick] = getattr(_local, "ticks", None) or {}
    tick = ticks.get(interval)
    if tick is None or tick.loop is not loop:
        if tick is not None and tick.loop is not loop:
            ticks = {}  # a new loop (tests run one per test): the old clocks died with theirs
        tick = ticks[interval] = FlushTick(loop, interval)
        _local.ticks = ticks
    return tick
