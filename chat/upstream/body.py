"""A streaming response's raw body, read chunk by chunk under one watchdog timer.

Speed: httpx's byte iterators stack four async generators over httpx-aiohttp's, so when the
response is httpx-aiohttp's and not content-encoded, the chunks come straight from aiohttp's
reader (one await each). Any other response (another transport, gzip) reads through httpx.

Timeouts: an `asyncio.timeout` per read costs a context object, a timer and its cancellation
every event. Instead one `Watchdog` per stream holds the time of the last event (the reader
stores it: one attribute store) and, when due, re-arms itself for `last + idle` or aborts the
read. The abort is an exception put into aiohttp's reader, so it can only surface inside a
read: never in our caller's work between events, and never confused with a cancellation
(a person's Stop cancels the task and that CancelledError goes through untouched).
One difference from a timeout around each read: a caller that itself pauses for longer than
the idle timeout between two events meets the timeout at its next read even if data came
meanwhile. The runner never awaits between events, so for it nothing changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import httpx

from chat.upstream import errors


class NotAnEventStream(Exception):
    """The answer is not `text/event-stream`."""


class StreamExpired(Exception):
    """The watchdog's deadline passed while waiting for the stream."""


class Watchdog:
    """First-event deadline, then an idle deadline counted from `last`, on one timer."""

    __slots__ = ("last", "_loop", "_first", "_idle", "_abort", "_handle")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        first_deadline: float,
        idle: float,
        abort: Callable[[], None],
    ) -> None:
        self.last: float | None = None  # loop time of the last event; None before the first
        self._loop, self._first, self._idle, self._abort = loop, first_deadline, idle, abort
        self._handle: asyncio.TimerHandle | None = loop.call_at(first_deadline, self._due)

    @property
    def kind(self) -> str:
        return errors.FIRST_EVENT_TIMEOUT if self.last is None else errors.IDLE_TIMEOUT

    def deadline(self) -> float:
        return self._first if self.last is None else self.last + self._idle

    def first_event(self, now: float) -> None:
        """Switch to the idle deadline, which may come before the first-event one."""
        self.last = now
        self.stop()
        self._handle = self._loop.call_at(now + self._idle, self._due)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _due(self) -> None:
        deadline = self.deadline()
        if self._loop.time() < deadline:
            # Events came since this timer was set: wait for the deadline they moved.
            self._handle = self._loop.call_at(deadline, self._due)
            return
        self._handle = None
        self._abort()


class Body:
    """`read()` gives the next raw chunk, b"" at the end; StreamExpired when the watchdog fires."""

    def __init__(
        self, response: httpx.Response, loop: asyncio.AbstractEventLoop, first: float, idle: float
    ) -> None:
        content_type = response.headers.get("content-type", "").partition(";")[0]
        if "text/event-stream" not in content_type:
            raise NotAnEventStream(
                f"expected text/event-stream, got {content_type or 'no content type'!r}"
            )
        self._reader = _aiohttp_reader(response)
        self._chunks = response.aiter_bytes() if self._reader is None else None
        self.watchdog = Watchdog(loop, first, idle, self._abort)
        # The hot path calls aiohttp's own method: no frame of ours per chunk.
        self.read = self._reader.readany if self._reader is not None else self._read_httpx

    async def aclose(self) -> None:
        self.watchdog.stop()
        if self._chunks is not None:
            await self._chunks.aclose()

    def _abort(self) -> None:
        if self._reader is not None:
            self._reader.set_exception(StreamExpired())
        # httpx path: _read_httpx enforces the same deadline itself.

    async def _read_httpx(self) -> bytes:
        assert self._chunks is not None
        try:
            async with asyncio.timeout_at(self.watchdog.deadline()):
                return await anext(self._chunks, b"")
        except TimeoutError:
            raise StreamExpired() from None


def _aiohttp_reader(response: httpx.Response) -> aiohttp.StreamReader | None:
    """aiohttp's body reader under an httpx-aiohttp response, when its bytes are the body's."""
    if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
        return None  # httpx decodes gzip & co.; aiohttp was told not to (auto_decompress=False)
    # httpx wraps the transport's stream (BoundAsyncStream._stream); httpx-aiohttp keeps the
    # aiohttp response as _aiohttp_response. tests/test_upstream_client.py checks we get here.
    stream = getattr(response.stream, "_stream", None)
    content = getattr(getattr(stream, "_aiohttp_response", None), "content", None)
    return content if isinstance(content, aiohttp.StreamReader) else None
