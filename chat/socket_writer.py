"""Frames out to one socket, written in the pass that produced them.

A frame used to cost a future's set_result, a wake of the socket's writer task and an awaited
ASGI send. But the servers' sends rarely suspend: uvicorn's (websockets-sansio) awaits
`writable.wait()`, which returns at once while the transport takes data, then writes
synchronously; daphne's and Channels' test communicator's never suspend. So the send
coroutine is driven here, in the caller's own step (`start`): if it finishes there, the
frame is on the wire with no task wake. If it would suspend (backpressure), the rest of that
send and every frame queued behind it go on in a task, in order; new frames join the queue
while that task runs, so nothing is reordered, duplicated or lost.

Inside a write pass (chat/turns/ticker.py: the flush clock's tick, a turn's start) frames
only queue; the pass's end writes each socket once, all its frames in one message (htmx
swaps every top-level element of a message, so joining them changes nothing).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from chat.turns.ticker import write_in_pass

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]


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
        if self.task is None and not write_in_pass(self._write):
            self.write()

    def write(self) -> None:
        """Send what is queued now; falls back to a task only if the send suspends."""
        if not self.pending or self.task is not None or self.closed:
            return
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
