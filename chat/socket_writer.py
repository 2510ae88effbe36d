"""Frames out to one socket, written in the pass that produced them.

A frame used to cost a future's set_result, a wake of the socket's writer task and an awaited
ASGI send. But the servers' sends rarely suspend: uvicorn's (websockets-sansio) awaits
`writable.wait()`, which returns at once while the transport takes data, then writes
synchronously; daphne's and Channels' test communicator's never suspend. So the sends are
driven here, in the caller's own step: one coroutine awaits the send of every socket with
frames, and is run by hand (`write_all`); a send that finishes leaves the frame on the wire
with no task wake. If one would suspend (backpressure), the rest of that send and every frame
queued behind it go on in a task of that socket's, in order, while the other sockets are
written at once; new frames join the queue while that task runs, so nothing is reordered,
duplicated or lost. (A send's first step runs outside any task: a server whose send needed
one, e.g. for `asyncio.timeout`, would fail here and lose the socket; none of the three does.)

Inside a write pass (the flush clock's tick, a turn's start and end, a socket's attach)
frames only queue; the pass's end writes each socket once, all its frames in one message
(htmx swaps every top-level element of a message, so joining them changes nothing), in one
coroutine for all (a coroutine driven by hand costs a StopIteration when it ends: one per
pass, not one per socket).
"""

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
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


class SocketWriter:
    """One socket's outgoing frames, in order. Never raises to the caller: a socket that
    cannot be written any more (closed, gone) drops its frames; its disconnect follows."""

    __slots__ = ("send", "pending", "task", "closed")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.pending: list[str] = []
        self.task: asyncio.Task[None] | None = None  # only while a send is suspended
        self.closed = False

    def queue(self, html: str) -> None:
        if self.closed:
            return
        self.pending.append(html)
        if self.task is not None:
            return  # the task of a suspended send sends it after what it holds, in order
        writes: dict[SocketWriter, None] | None = getattr(_local, "writes", None)
        if writes is not None:
            writes[self] = None  # written as the pass ends
            return
        try:  # alone: its send is driven right here
            steps = self.send(self._message()).__await__()
            yielded = steps.send(None)
        except StopIteration:
            return  # on the wire
        except Exception as exc:
            self._lost(exc)
            return
        self.task = asyncio.get_running_loop().create_task(self._finish(Rest(steps, yielded)))

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


class _Batch:
    """The sends of several sockets, awaited one after the other by one coroutine."""

    __slots__ = ("queue", "current")

    def __init__(self, queue: deque[SocketWriter]) -> None:
        self.queue = queue
        self.current: SocketWriter | None = None

    async def run(self) -> None:
        while self.queue:  # (an attribute: emptied when this run is left to one socket)
            writer = self.current = self.queue.popleft()
            if writer.pending and writer.task is None and not writer.closed:
                try:
                    await writer.send(writer._message())
                except Exception as exc:
                    writer._lost(exc)


def write_all(writers: Iterable[SocketWriter]) -> None:
    """Write each socket's queued frames now, as one message each, without a task wake.
    A socket whose send suspends goes on in a task of its own; the others are not held."""
    batch = _Batch(deque(writers))
    while batch.queue:
        steps = batch.run().__await__()
        try:
            yielded = steps.send(None)
        except StopIteration:
            return
        writer = batch.current
        assert writer is not None
        # That socket's send waits (backpressure): the suspended run ends with its own send,
        # in its task; a fresh run takes the sockets after it.
        rest_of_queue, batch.queue = batch.queue, deque()
        writer.task = asyncio.get_running_loop().create_task(writer._finish(Rest(steps, yielded)))
        batch = _Batch(rest_of_queue)


# --- write passes ---
# While a pass is open, a socket given frames does not write them at once but joins the
# pass; its end writes every such socket once, all its frames of the pass in one message.
# A pass is synchronous (never spans an await), so one per thread is enough.


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
    writes: dict[SocketWriter, None] = _local.writes
    _local.writes = None
    if writes:
        write_all(writes)
