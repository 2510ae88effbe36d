"""One HTTP/1.1 client connection as a bare asyncio Protocol, parsed by httptools.

The streaming read path's transport (issue 12): httpx over aiohttp cost ~31-36 µs of CPU per
upstream delta before any SSE work; this protocol hands the body's bytes to one waiting reader
with one parser call and one future per network read. It serves one request at a time (the
pool, pool.py, gives it out and takes it back for keep-alive).

Bounds (issue 13: upstream is hostile): the response head may be at most MAX_HEAD bytes; the
body buffered for a lagging reader at most about HIGH_WATER bytes (then the socket is paused:
TCP pushes back on the server); everything else is the caller's (MAX_FEED, MAX_ERROR_BODY).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import httptools

# A response head larger than this is refused (aiohttp's limit is 8 KiB per line; proxies in
# front of model servers add headers, so a little more room, but never unbounded).
MAX_HEAD = 65_536
# Flow control: stop reading the socket once this much body waits for the reader; go on when
# the reader has taken it (one read takes everything buffered, so LOW is simply "drained").
# As much as the read loop frames at once (client.MAX_FEED): a lagging runner holds at most
# this plus one socket read per stream, within the 64 KiB-per-stream memory goal.
HIGH_WATER = 65_536


class WireError(Exception):
    """The connection broke, or the server's bytes are not HTTP/1.1 we accept."""


class HeadTooLarge(WireError):
    """The response head passed MAX_HEAD."""


class BadResponse(WireError):
    """The server's bytes are not a valid HTTP/1.1 response."""


class Wire(asyncio.Protocol):
    """One connection: `send()` a request, await `head()`, then `read()` body chunks."""

    __slots__ = (
        "key", "transport", "status", "reason", "headers", "idle_since", "on_lost",
        "_loop", "_parser", "_sent", "_head_size", "_in_body", "_chunks", "_size", "_waiter",
        "_error", "_expired", "_complete", "_keep_alive", "_eof", "_paused", "_informational",
    )  # fmt: skip

    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple[str, str, int]) -> None:
        self.key = key  # (scheme, host, port): what the pool files it under
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.on_lost: Callable[[Wire], None] | None = None  # the pool's hook while idle
        self._loop = loop
        self._error: BaseException | None = None
        self._reset()

    def _reset(self) -> None:
        """Ready for the next request on this connection."""
        self._parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.reason = b""
        self.headers: dict[str, str] = {}
        self._sent = False  # a request went out: bytes may come
        self._head_size = 0
        self._in_body = False
        self._chunks: list[bytes] = []
        self._size = 0
        self._waiter: asyncio.Future[None] | None = None
        self._expired: BaseException | None = None
        self._complete = False
        self._keep_alive = False  # asked at the answer's end: llhttp forgets it right after
        self._eof = False
        self._paused = False
        self._informational = False

    # -- state the pool and the response ask about --

    @property
    def alive(self) -> bool:
        return self.transport is not None and not self.transport.is_closing() and not self._eof

    @property
    def reusable(self) -> bool:
        """The last answer was read to its end and both sides keep the connection open."""
        return (
            self._complete
            and self.alive
            and self._error is None
            and not self._chunks
            and self._keep_alive
        )

    @property
    def until_close(self) -> bool:
        """The body has neither a length nor chunks: it ends when the server closes."""
        h = self.headers
        return "content-length" not in h and "chunked" not in h.get("transfer-encoding", "")

    # -- the request side --

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self._reset()
        self._sent = True
        self.transport.write(request)

    async def head(self) -> None:
        """Wait for the status line and headers; WireError if the connection fails first."""
        while not self._in_body:
            if self._error is not None:
                raise self._error
            if self._eof:
                raise WireError("the server closed the connection before answering")
            await self._wait()

    async def read(self) -> bytes:
        """The body bytes that came since the last read, b"" at its end; WireError when the
        connection broke before the end; the watchdog's exception (`expire`) first of all."""
        while True:
            if self._expired is not None:
                raise self._expired
            chunks = self._chunks
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._size = 0
                if self._paused:
                    self._paused = False
                    if self.transport is not None:
                        self.transport.resume_reading()
                return data
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            if self._eof:
                if self.until_close:
                    self._complete = True  # the end of a body without a length
                    return b""
                raise WireError("the server closed the connection before the body's end")
            # _wait() inlined: this is once per upstream delta.
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def expire(self, exc: BaseException) -> None:
        """Fail the pending or next read with `exc` (the stream's watchdog, body.py)."""
        self._expired = exc
        self._wake()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._in_body and not self._complete:
            # The hot path, once per upstream delta: parse, then wake the reader if the bytes
            # held body (a read may hold only chunk framing).
            try:
                self._parser.feed_data(data)
            except (httptools.HttpParserUpgrade, httptools.HttpParserError) as exc:
                self._parse_failed(exc)
                return
            waiter = self._waiter
            if waiter is not None and (self._chunks or self._complete) and not waiter.done():
                waiter.set_result(None)
            return
        self._data_before_body(data)

    def _data_before_body(self, data: bytes) -> None:
        if not self._sent or self._complete:
            # Bytes nobody asked for (on an idle connection, or after the answer's end):
            # this connection's framing can no longer be trusted.
            self._fail(BadResponse("unexpected bytes from the server"))
            return
        if not self._in_body:
            room = MAX_HEAD - self._head_size
            if len(data) > room:
                # Parse at most MAX_HEAD bytes before the head must be complete; the rest of
                # this read (body bytes sent with the head, say) only once it is.
                self._head_size = MAX_HEAD
                if not self._feed(data[:room]):
                    return
                if not self._in_body:
                    self._fail(HeadTooLarge(f"response head over {MAX_HEAD} bytes"))
                    return
                data = data[room:]
            else:
                self._head_size += len(data)
        if self._feed(data) and (self._chunks or self._complete):
            self._wake()

    def _feed(self, data: bytes) -> bool:
        """Parse; False (and the connection failed) when the bytes are not HTTP we accept."""
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserUpgrade, httptools.HttpParserError) as exc:
            self._parse_failed(exc)
            return False
        return True

    def _parse_failed(self, exc: Exception) -> None:
        if isinstance(exc, httptools.HttpParserUpgrade):
            self._fail(BadResponse("the server switched protocols"))
            return
        cause = exc.__context__
        self._fail(cause if isinstance(cause, WireError) else BadResponse(str(exc)[:200]))

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        if exc is not None and self._error is None and not self._complete:
            self._error = WireError(str(exc) or type(exc).__name__)
        self._wake()
        if self.on_lost is not None:
            self.on_lost(self)

    def pause_writing(self) -> None:  # a request is a few KiB: nothing to hold back
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks --

    def on_status(self, status: bytes) -> None:
        self.reason += status[: 200 - len(self.reason)]

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # 100 Continue, 103 Early Hints: an interim answer, the real one follows.
            self._informational = True
            self.headers = {}
            self.reason = b""
            return
        self.status = status
        self._in_body = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._size += len(body)
        if self._size > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True  # the reader lags: let TCP push back on the server
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()

    # -- helpers --

    def _fail(self, exc: WireError) -> None:
        self._error = exc
        self._wake()
        if self.transport is not None:
            self.transport.abort()

    async def _wait(self) -> None:
        # One plain future, only ever given a result: a failure is read from the state after
        # waking, so no future holds an exception nobody retrieves.
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
