"""Frames out to one socket, written in the pass that produced them.

A frame used to cost a future's set_result, a wake of the socket's writer task and an awaited
ASGI send. But the servers' sends rarely suspend: uvicorn's (websockets-sansio) awaits
`writable.wait()`, which returns at once while the transport takes data, then writes
synchronously; daphne's and Channels' test communicator's never suspend. So the send
coroutine is driven here, in the caller's own step (`start`): if it finishes there, the
frame is on the wire with no task wake. If it would suspend (backpressure), the rest of that
send and every frame queued behind it go on in a task, in order; new frames join the queue
while that task runs, so nothing is reordered, duplicated or lost.

Inside a write pass (a turn's start and end, a socket's attach: where one step gives a socket
several frames) frames only queue; the pass's end writes each socket once, all its frames in
one message (htmx swaps every top-level element of a message, so joining them changes
nothing).
"""

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
_local = threading.local()  # the open pass, if any (a thread runs one loop at a time)


class Rest:
    """The rest of a send that suspended in its first step: awaiting this resumes it as
    `await` would have (`yield from` minus the step already taken)."""

    __slots__ = ("steps", "yielded")

    def __init__(self, steps: Generator[Any, Any, Any], yielded: Any) -> None:
        self.steps = steps
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        steps, yielded = self.steps, self.yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as exc:  # a cancellation: into the send, as await would
                try:
                    yielded = steps.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                yielded = steps.send(sent)
            except StopIteration as stop:
                return stop.value


def start(awaitable: Awaitable[Any]) -> Rest | None:
    """Run an awaitable's first step now: None if it finished there, else its Rest."""
    steps = awaitable.__await__()
    try:
        yielded = steps.send(None)
    except StopIteration:
        return None
    return Rest(steps, yielded)


class SocketWriter:
    """One socket's outgoing frames, in order. Never raises to the caller: a socket that
    cannot be written any more (closed, gone) drops its frames; its disconnect follows."""

    __slots__ = ("send", "pending", "task", "closed", "_write")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.pending: list[str] = []
        self.task: asyncio.Task[None] | None = None  # only while a send is suspended
        self.closed = False
        self._write = self.write  # one bound method: the pass keys its writes by it

    def queue(self, html: str) -> None:
        if self.closed:
            return
        self.pending.append(html)
        if not write_in_pass(self._write):
            self.write()

    def write(self) -> None:
        """Send what is queued now; falls back to a task only if the send suspends."""
        if not self.pending or self.task is not None or self.closed:
            return  # (a suspended send's task sends what queued behind it, in order)
        try:
            rest = start(self.send(self._message()))
        except Exception as exc:
            self._lost(exc)
            return
        if rest is not None:
            self.task = asyncio.get_running_loop().create_task(self._finish(rest))

    async def _finish(self, rest: Rest) -> None:
        try:
            await rest
            while self.pending and not self.closed:  # what queued meanwhile, in order
                await self.send(self._message())
        except Exception as exc:
            self._lost(exc)
        finally:
            self.task = None

    def _message(self) -> dict[str, Any]:
        pending = self.pending
        text = pending[0] if len(pending) == 1 else "".join(pending)
        pending.clear()
        return {"type": "websocket.send", "text": text}

    def _lost(self, exc: Exception) -> None:
        log.debug("socket write failed (%r); its frames are dropped", exc)
        self.closed = True
        self.pending.clear()

    def close(self) -> None:
        """No more frames: drop the queue and stop a suspended send."""
        self.closed = True
        self.pending.clear()
        if self.task is not None:
            self.task.cancel()  # (cancelled before its first step, it never runs its finally)
            self.task = None


# --- write passes ---
# While a pass is open, a socket given frames does not write them at once but registers its
# write here; closing the pass writes every such socket once, all its frames of the pass in
# one message. A pass is synchronous (never spans an await), so one per thread is enough.


@contextmanager
def write_pass() -> Iterator[None]:
    """Frames given to sockets inside are written when the outermost pass ends."""
    opened = open_pass()
    try:
        yield
    finally:
        if opened:
            close_pass()


def open_pass() -> bool:
    """Open a write pass; False if one is open already (then the outer one writes)."""
    if getattr(_local, "writes", None) is not None:
        return False
    _local.writes = {}
    return True


def close_pass() -> None:
    """Write every socket that got frames during the pass (in the order they first did)."""
    writes: dict[Callable[[], None], None] = _local.writes
    _local.writes = None
    for write in writes:
        try:
            write()
        except Exception:  # a socket's own failure must not keep the others' frames
            log.exception("writing a socket's frames failed")


def write_in_pass(write: Callable[[], None]) -> bool:
    """Register `write` with the open pass; False if none is open (write now yourself)."""
    writes: dict[Callable[[], None], None] | None = getattr(_local, "writes", None)
    if writes is None:
        return False
    writes[write] = None
    return True
