"""The benchmark's floor: the thinnest relay that does the app's job, to measure the app against.

python -m bench.floor --port N --upstream http://127.0.0.1:P   (prints nothing; polls as a server)

A bare asyncio protocol on uvloop with httptools: it accepts the bench clients' WebSockets on
any path (no auth, no framework, no permessage-deflate), and for each
`{"action": "send", "message": ...}` opens one HTTP/1.1 connection to the fake upstream, reads
its SSE on bytes, and writes the text deltas to the socket coalesced as the app does (leading
edge: the first delta at once, then at most one frame per 30 ms; the end at once), in the same
HTML shapes the clients parse (the streaming article, appended spans, the final article).
No persistence, no rendering beyond escaping, no channel layer. Machines differ by ~2x, so
every figure of the app is also reported as a ratio to this one's in the same run.

It answers `GET /__bench__/stats[?reset=1]` like `bench.probe` (its loop-lag monitor is the
same 5 ms sleep), with no writes and no layer calls.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import itertools
import os
import signal
import time
from urllib.parse import urlsplit

import httptools
import orjson
import uvloop

FLUSH_INTERVAL = 0.030  # the app's CHAT_FLUSH_INTERVAL_MS default
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_CLIENT_FRAME = 1 << 16  # a bench client sends short JSON commands only
_ids = itertools.count(1)


def ws_frame(text: bytes) -> bytes:
    """One unmasked final text frame (server to client)."""
    n = len(text)
    if n < 126:
        return bytes((0x81, n)) + text
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + text
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + text


def unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    reps = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(reps, "big")).to_bytes(n, "big")


class Stats:
    """The loop-lag monitor and `/__bench__/stats`, as bench.probe reports them."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.max_stall = 0.0
        self.stalls_over_10ms = 0
        self.since = time.time()

    def snapshot(self) -> dict:
        return {"pid": os.getpid(), "since": self.since, "max_stall_ms": self.max_stall * 1000,
                "stalls_over_10ms": self.stalls_over_10ms, "writes": [], "layer": {}}  # fmt: skip

    async def monitor(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.005)
            lag = loop.time() - t - 0.005
            self.max_stall = max(self.max_stall, lag)
            self.stalls_over_10ms += lag > 0.010


STATS = Stats()


class Upstream(asyncio.Protocol):
    """One turn: the POST to the fake, its SSE read on bytes, deltas coalesced into frames."""

    def __init__(self, socket: FloorSocket, message: str) -> None:
        self.socket = socket
        self.loop = socket.loop
        self.mid = next(_ids)
        self.message = message
        self.parser = httptools.HttpResponseParser(self)
        self.rest = b""
        self.pending: list[str] = []
        self.text: list[str] = []
        self.started = False
        self.last_flush = -1e9
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        body = orjson.dumps({"model": "fake-model", "stream": True,
                             "input": [{"role": "user", "content": self.message}]})  # fmt: skip
        transport.write(
            b"POST /v1/responses HTTP/1.1\r\nHost: upstream\r\naccept: text/event-stream\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.socket.upstreams.discard(self)

    def on_body(self, body: bytes) -> None:
        *events, self.rest = (self.rest + body).split(b"\n\n")
        for event in events:
            if b"response.output_text.delta" in event[:48]:
                delta = orjson.loads(event[event.index(b"data: ") + 6 :])["delta"]
                self.pending.append(delta)
                self.text.append(delta)
                self._after_delta()
            elif b"response.completed" in event[:48]:
                self._flush()
                self._final()

    def _after_delta(self) -> None:
        now = self.loop.time()
        if now - self.last_flush >= FLUSH_INTERVAL:
            self._flush()
        elif self.timer is None:
            self.timer = self.loop.call_at(self.last_flush + FLUSH_INTERVAL, self._flush)

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.pending:
            return
        chunk = html.escape("".join(self.pending))
        self.pending = []
        self.last_flush = self.loop.time()
        tid = f"m{self.mid}-i0-text-0"
        if self.started:
            frame = f'<span hx-swap-oob="beforeend:#{tid}">{chunk}</span>'
        else:
            self.started = True
            frame = (f'<article id="m{self.mid}" class="message assistant status-streaming">'
                     f'<div id="{tid}" class="text streaming">{chunk}</div></article>')  # fmt: skip
        self.socket.send(frame)

    def _final(self) -> None:
        text = html.escape("".join(self.text))
        self.socket.send(
            f'<article id="m{self.mid}" class="message assistant status-completed">'
            f'<div id="m{self.mid}-i0-text-0" class="text">{text}</div></article>'
        )
        self.transport.close()


class FloorSocket(asyncio.Protocol):
    """An HTTP connection: `/__bench__/stats`, or a WebSocket the bench clients talk to."""

    upstream: tuple[str, int]

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.headers: dict[bytes, bytes] = {}
        self.url = b""
        self.ws = False
        self.buf = bytearray()
        self.upstreams: set[Upstream] = set()

    def connection_lost(self, exc) -> None:
        for up in list(self.upstreams):
            up.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.ws:
            self.buf += data
            self._frames()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade(data[upgrade.args[0] :])
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_message_complete(self) -> None:
        if self.parser.should_upgrade():
            return
        url = httptools.parse_url(self.url)
        if url.path == b"/__bench__/stats":
            body = orjson.dumps(STATS.snapshot())
            if b"reset=1" in (url.query or b""):
                STATS.reset()
            head = (
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            )
            self.transport.write(head % len(body) + body)
        else:
            self.transport.write(b"HTTP/1.1 404 X\r\ncontent-length: 0\r\n\r\n")
        self.url, self.headers = b"", {}

    def _upgrade(self, rest: bytes) -> None:
        key = self.headers.get(b"sec-websocket-key", b"")
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: %s\r\n\r\n" % accept
        )
        self.ws = True
        self.buf += rest
        self._frames()

    def _frames(self) -> None:
        buf = self.buf
        while len(buf) >= 6:
            b0, b1 = buf[0], buf[1]
            n, pos = b1 & 0x7F, 2
            if n == 126:
                n, pos = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                n, pos = int.from_bytes(buf[2:10], "big"), 10
            if n > MAX_CLIENT_FRAME:
                self.transport.close()
                return
            if len(buf) < pos + 4 + n:
                return
            mask = bytes(buf[pos : pos + 4])
            payload = unmask(bytes(buf[pos + 4 : pos + 4 + n]), mask)
            del buf[: pos + 4 + n]
            opcode = b0 & 0x0F
            if opcode == 1:
                self._command(payload)
            elif opcode == 8:
                self.transport.write(bytes((0x88, 2)) + payload[:2])
                self.transport.close()
                return
            elif opcode == 9:
                self.transport.write(bytes((0x8A, len(payload))) + payload)

    def _command(self, payload: bytes) -> None:
        try:
            message = orjson.loads(payload)["message"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        up = Upstream(self, str(message))
        self.upstreams.add(up)
        host, port = self.upstream
        self.loop.create_task(self.loop.create_connection(lambda: up, host, port))

    def send(self, text: str) -> None:
        if not self.transport.is_closing():
            self.transport.write(ws_frame(text.encode()))


async def serve(host: str, port: int, upstream: str) -> None:
    loop = asyncio.get_running_loop()
    parts = urlsplit(upstream)
    FloorSocket.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
    server = await loop.create_server(FloorSocket, host, port, backlog=4096)
    monitor = loop.create_task(STATS.monitor())
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    monitor.cancel()
    server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default=os.environ.get("OPENAI_BASE_URL", ""))
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port, args.upstream))


if __name__ == "__main__":
    main()
