"""One flush clock for the whole process: the coalesced frames of every running turn that are
due in the same few milliseconds go out in one timer callback, written to their sockets in it.

Per-turn timers cost one `call_at` and one cancel per frame per turn (at 400 streams, ~13 000
timer handles a second); here a turn's due flush joins the slot of the grid line at or just
before its due time (the grid is a sixth of the flush interval: 5 ms for 30 ms), so at most
a few timers are live at once and every socket's frame of a slot is written in one pass. A
frame goes out at most one grain early, never late.

The coalescing window widens under load: with few live turns it is the flush interval
(CHAT_FLUSH_INTERVAL_MS, 30 ms); from WIDEN_FROM live turns on the clock it grows linearly to
CHAT_FLUSH_INTERVAL_MAX_MS (40 ms) at WIDEST_AT. Fewer frames per turn then leave more CPU per
delta, while a delta still waits at most the cap: the p99 budget (50 ms) keeps ~10 ms for the
rest of the path. The first token and structural changes never wait for the window
(chat/turns/runner.py): they go out as soon as the events read with them are applied.
As frames go at grid lines at or before their due time, the window takes effect in whole
grains (30, 35, 40 ms).
"""

import asyncio
import math
import threading
from collections.abc import Callable

from chat.socket_writer import write_pass

GRID_STEPS = 6  # grid lines per flush interval
WIDEN_FROM = 50  # live turns on one clock before the window starts to widen
WIDEST_AT = 200  # live turns at which it reaches the cap

SOON = -math.inf  # the slot of flushes due at once (`soon`), before every grid line
_local = threading.local()  # one clock per event loop (a thread runs one loop at a time)


class FlushTick:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, interval: float, widest: float | None = None
    ) -> None:
        self.loop = loop
        self.interval = interval
        self.widest = max(interval, widest if widest is not None else interval)
        self.grain = interval / GRID_STEPS if interval > 0 else 0.0
        self.slots: dict[float, dict[Callable[[], None], None]] = {}
        self.live = 0  # turns streaming on this clock
        self.window = interval  # the coalescing window for that many live turns

    # --- the window ---
    def join(self) -> None:
        """A turn starts streaming: count it (the window may widen)."""
        self.live += 1
        self.window = self.window_for(self.live)

    def leave(self) -> None:
        self.live = max(0, self.live - 1)
        self.window = self.window_for(self.live)

    def window_for(self, live: int) -> float:
        if live <= WIDEN_FROM or self.widest <= self.interval:
            return self.interval
        share = min(1.0, (live - WIDEN_FROM) / (WIDEST_AT - WIDEN_FROM))
        return self.interval + (self.widest - self.interval) * share

    # --- the clock ---
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

    def soon(self, flush: Callable[[], None]) -> dict[Callable[[], None], None]:
        """Call `flush` once the running callbacks are done: the events of one read (a
        response's first four, its last four) make one frame, not one each. Returns the slot,
        as `at` does."""
        slot = self.slots.get(SOON)
        if slot is None:
            slot = self.slots[SOON] = {}
            self.loop.call_soon(self._fire, SOON)
        slot[flush] = None
        return slot

    def _fire(self, line: float) -> None:
        # One write pass: every socket's frame of this slot is written as the pass ends, all
        # sends in one coroutine run by hand (chat/socket_writer.py).
        with write_pass():
            for flush in list(self.slots.pop(line, ())):
                flush()

    def pending(self) -> int:
        return sum(len(slot) for slot in self.slots.values())


def flush_tick(interval: float, widest: float | None = None) -> FlushTick:
    """The running loop's clock for this flush interval and cap."""
    loop = asyncio.get_running_loop()
    ticks: dict[tuple[float, float | None], FlushTick] = getattr(_local, "ticks", None) or {}
    tick = ticks.get((interval, widest))
    if tick is None or tick.loop is not loop:
        if tick is not None and tick.loop is not loop:
            ticks = {}  # a new loop (tests run one per test): the old clocks died with theirs
        tick = ticks[interval, widest] = FlushTick(loop, interval, widest)
        _local.ticks = ticks
    return tick
