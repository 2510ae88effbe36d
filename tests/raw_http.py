"""A loopback HTTP/1.1 server that writes exactly the bytes a test scripts, for the bare
upstream reader's tests (tests/test_upstream_bare*.py): keep-alive, framing and faults that a
real framework would not produce on purpose.

It runs on the test's own event loop (asyncio or uvloop). Each request is answered by the
next scripted handler, `async def handler(writer, request)`, which writes what it likes and
returns whether the connection stays open for another request.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

Handler = Callable[[asyncio.StreamWriter, "Request"], Awaitable[bool]]


@dataclass
class Request:
    line: bytes
    headers: dict[str, str]
    body: bytes
    connection: int  # which accepted connection it came on (0, 1, ...)


@dataclass
class RawServer:
    tls: ssl.SSLContext | None = None
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    handlers: deque[Handler] = field(default_factory=deque)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0)

    async def close_connections(self) -> None:
        """Close every open connection (the server's idle keep-alive timeout, say)."""
        for writer in list(self._writers):
            writer.close()
        await asyncio.sleep(0)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    def url(self, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}/v1"

    def script(self, *handlers: Handler) -> None:
        self.handlers.extend(handlers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *rest = head[:-4].split(b"\r\n")
                headers = {}
                for raw in rest:
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(line, headers, body, number)
                self.requests.append(request)
                handler = self.handlers.popleft() if self.handlers else not_scripted
                if not await handler(writer, request):
                    return
        except asyncio.CancelledError:
            return  # the server closing; Python 3.11's start_server logs a cancelled handler
        finally:
            self.open_now -= 1
            self._writers.discard(writer)
            writer.close()


async def not_scripted(writer: asyncio.StreamWriter, request: Request) -> bool:
    writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
    return False


def sse(*events: dict) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


def answer(text: str = "hello", rid: str = "r1") -> bytes:
    """A short valid stream: created, one delta per word, completed."""
    deltas = [{"type": "response.output_text.delta", "delta": w} for w in text.split(" ")]
    return sse(
        {"type": "response.created", "response": {"id": rid, "status": "in_progress"}},
        *deltas,
        {"type": "response.completed", "response": {"id": rid, "status": "completed"}},
    )


def head(status: str = "200 OK", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", "content-type: text/event-stream", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(body: bytes, size: int = 40) -> bytes:
    out = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
           for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(out) + b"0\r\n\r\n"


def reply(raw: bytes, *, keep: bool = True, delay: float = 0.0) -> Handler:
    """Write `raw` (in one write), then keep the connection or close it."""

    async def handler(writer: asyncio.StreamWriter, request: Request) -> bool:
        if delay:
            await asyncio.sleep(delay)
        writer.write(raw)
        await writer.drain()
        return keep

    return handler


def chunked_answer(text: str = "hello", **kw: bool) -> Handler:
    return reply(head("200 OK", "transfer-encoding: chunked") + chunked(answer(text)), **kw)


async def until(condition: Callable[[], bool]) -> None:
    """Wait up to 3 s for `condition` (a socket's far side acts on its own time); fail if never."""
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")
