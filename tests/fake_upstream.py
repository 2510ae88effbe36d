"""Loopback fake of an OpenAI-compatible Responses server, for tests, browser tests and benchmarks.

The server runs aiohttp on its own event loop in a daemon thread, so synchronous tests, async
tests (on their own loop) and Django/Channels code can all talk to it over real HTTP.
Replies are scripted per request (FIFO); see `FakeUpstream.enqueue`.

CLI: python -m tests.fake_upstream --port 8765 --fixture gpt5_moderation_stream.jsonl --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson
from aiohttp import web

FIXTURES_DIR = Path(
    os.environ.get("FIXTURES_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "responses"
)


class Gate:
    """A point in a scripted stream where the fake waits until the test opens it (a turn
    held in mid-stream for as long as a test needs, however slow the machine)."""

    def __init__(self) -> None:
        self._open = threading.Event()

    def open(self) -> None:
        self._open.set()

    async def passed(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._open.wait, 60)


# A frame is the bytes to send, or a callable rendering them at send time (for `sent_at`
# stamps), or a Gate to wait at.
Frame = bytes | Callable[[], bytes] | Gate
# Blank line ending an SSE frame; lookbehind keeps the separator bytes attached to their frame.
_FRAME_END = re.compile(rb"(?<=\r\n\r\n)|(?<=\n\n)")


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one request: an SSE stream or a plain HTTP (JSON/text) response."""

    kind: Literal["stream", "http"]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""  # kind == "http"
    # kind == "stream": called once per request, so synthesised ids are fresh each time.
    frames: Callable[[], Sequence[Frame]] = lambda: ()
    delay: float = 0.0  # seconds between frames
    end: Literal["close", "stall", "cut"] = "close"
    # Set by `respond`: picks the real reply from the request's JSON body (a tool loop's
    # second request, answered according to its function_call_output items).
    build: Callable[[dict], Reply] | None = None


def _sse(event: dict) -> bytes:
    return _sse_data(orjson.dumps(event), event.get("type"))


def _sse_data(data: bytes, event_type: str | None) -> bytes:
    head = f"event: {event_type}\n".encode() if event_type else b""
    return head + b"data: " + data + b"\n\n"


def _stream(frames: Sequence[Frame], delay: float, end: str = "close") -> Reply:
    frozen = tuple(frames)
    return Reply("stream", frames=lambda: frozen, delay=delay, end=end)


def sse_file(name: str, *, delay: float = 0.0) -> Reply:
    """Replay raw_sse/<name> byte for byte (split into frames only to pace them)."""
    body = (FIXTURES_DIR / "raw_sse" / name).read_bytes()
    frames = [f for f in _FRAME_END.split(body) if f] if delay > 0 else [body]
    return _stream(frames, delay)


def jsonl_file(
    name: str, *, delay: float = 0.0, event_lines: bool = True, done_sentinel: bool = False
) -> Reply:
    """Turn each recorded JSONL event into an SSE frame, keeping the JSON text as recorded."""
    frames: list[Frame] = []
    for line in (FIXTURES_DIR / name).read_bytes().splitlines():
        if line.strip():
            event_type = orjson.loads(line).get("type") if event_lines else None
            frames.append(_sse_data(line, event_type))
    if done_sentinel:
        frames.append(b"data: [DONE]\n\n")
    return _stream(frames, delay)


def events(items: list[dict | str], *, delay: float = 0.0, end: str = "close") -> Reply:
    """dict -> `event:` + `data:` frame; str -> sent raw (malformed lines, comments, [DONE])."""
    if end not in ("close", "stall", "cut"):
        raise ValueError(f"end must be close, stall or cut, not {end!r}")
    return _stream([_sse(i) if isinstance(i, dict) else i.encode() for i in items], delay, end)


def respond(build: Callable[[dict], Reply]) -> Reply:
    """A reply chosen when the request arrives, from its JSON body."""
    return Reply("stream", build=build)


def http_error(status: int, body: dict | str, *, headers: dict[str, str] | None = None) -> Reply:
    if isinstance(body, dict):
        raw, ctype = orjson.dumps(body), "application/json"
    else:
        raw, ctype = body.encode(), "text/plain; charset=utf-8"
    headers = {"content-type": ctype, **(headers or {})}
    return Reply("http", status=status, body=raw, headers=headers)


def text_stream(
    text: str,
    *,
    chunk: int = 4,
    delay: float = 0.02,
    model: str = "fake-model",
    stamp: bool = False,
    response_id: str | None = None,
    background: bool = False,
    gate: Gate | None = None,
    gate_after: int = 0,
) -> Reply:
    """A complete, valid Responses stream for `text`, with fresh ids on every request
    (or a fixed response id, for a background response and its resumed stream); with a
    gate, it stops after `gate_after` text deltas until the test opens it."""
    pieces = [text[i : i + chunk] for i in range(0, len(text), chunk)]

    def frames() -> list[Frame]:
        rendered = _text_frames(text, pieces, model, stamp, response_id, background)
        if gate is not None:
            rendered.insert(4 + gate_after, gate)  # after created, in_progress, 2 x added
        return rendered

    return Reply("stream", frames=frames, delay=delay)


def _text_frames(
    text: str, pieces: list[str], model: str, stamp: bool, response_id: str | None, background: bool
) -> list[Frame]:
    rid = response_id or f"resp_fake_{uuid.uuid4().hex}"
    mid = f"msg_fake_{rid}"
    where = {"item_id": mid, "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    item = {"id": mid, "type": "message", "status": "completed", "role": "assistant"}
    usage = {
        "input_tokens": 8, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": len(pieces),
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 8 + len(pieces),
    }  # fmt: skip
    response = {
        "id": rid, "object": "response", "created_at": int(time.time()), "status": "in_progress",
        "model": model, "output": [], "usage": None, "error": None, "incomplete_details": None,
        "background": background,
    }  # fmt: skip
    evs: list[dict] = [
        {"type": "response.created", "response": response},
        {"type": "response.in_progress", "response": response},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **where, "part": {**part, "text": ""}},
        *({"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in pieces),
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": part},
        {"type": "response.output_item.done", "output_index": 0, "item": {**item, "content": [part]}},
        {"type": "response.completed", "response": {
            **response, "status": "completed", "completed_at": int(time.time()),
            "output": [{**item, "content": [part]}], "usage": usage}},
    ]  # fmt: skip
    for seq, ev in enumerate(evs):
        ev["sequence_number"] = seq
    return [_stamped(ev) if stamp and ev["type"].endswith(".delta") else _sse(ev) for ev in evs]


def _stamped(ev: dict) -> Frame:
    # Rendered lazily so `sent_at` is the moment the frame is written, not when it was built.
    return lambda: _sse({**ev, "sent_at": time.time()})


_BODY = web.RequestKey("body", object)  # the request's parsed JSON, for `respond` replies
_NO_REPLY_ERROR = {"message": "fake upstream: no reply scripted", "type": "server_error"}
_NO_REPLY = http_error(500, {"error": {**_NO_REPLY_ERROR, "code": None}})


class FakeUpstream:
    def __init__(self, *, port: int = 0, default: Reply | None = None) -> None:
        self.port = port
        self.default = default
        self.requests: list[dict] = []
        self.cancelled: list[str] = []
        self._replies: deque[Reply] = deque()
        self._seen = threading.Condition()
        self._live: set[asyncio.Transport] = set()  # open stream connections, aborted by close()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    def posted(self) -> list[dict]:
        """The JSON bodies of the POSTs (the response requests) received so far, in order."""
        return [r["json"] for r in self.requests if r["method"] == "POST"]

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> None:
        with self._seen:
            if not self._seen.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"fake upstream: wanted {n} requests, got {len(self.requests)}")

    # -- lifecycle (called from the test thread) --

    def start(self) -> FakeUpstream:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                loop.close()

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- server side (runs on the fake's own loop) --

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.router.add_post("/v1/responses", self._scripted)
        app.router.add_get("/v1/responses/{id}", self._scripted)  # background resume/poll
        app.router.add_post("/v1/responses/{id}/cancel", self._cancel)
        app.router.add_get("/health", _health)
        app.router.add_get("/v1/models", _models)
        # handler_cancellation: a client hanging up cancels its handler (ends "stall" streams).
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
        )
        self._runner = runner
        await runner.setup()
        # Large backlog: a benchmark may open hundreds of connections at once.
        await web.TCPSite(runner, "127.0.0.1", self.port, backlog=1024).start()
        self.port = runner.addresses[0][1]

    async def _shutdown(self) -> None:
        for transport in list(self._live):
            transport.abort()  # stalled or slow streams would otherwise hold cleanup open
        await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        entry = {
            "method": request.method,
            "path": request.path,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "json": body,
            "query": dict(request.query),
        }
        with self._seen:
            self.requests.append(entry)
            self._seen.notify_all()
        request[_BODY] = body
        return await handler(request)

    async def _scripted(self, request: web.Request) -> web.StreamResponse:
        try:
            reply = self._replies.popleft()
        except IndexError:
            reply = self.default or _NO_REPLY
        if reply.build is not None:
            reply = reply.build(request[_BODY] or {})
        if reply.kind == "http":
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        return await self._send_stream(request, reply)

    async def _send_stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        headers = {"content-type": "text/event-stream", "cache-control": "no-cache"}
        resp = web.StreamResponse(status=reply.status, headers={**headers, **reply.headers})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        transport = request.transport
        if transport is None:  # client already gone
            return resp
        self._live.add(transport)
        try:
            await _write_frames(resp, reply.frames(), reply.delay)
            if reply.end == "stall":
                await asyncio.Event().wait()  # until cancelled: client hangs up or close()
            elif reply.end == "cut":
                await _cut(transport)
            else:
                await resp.write_eof()
        finally:
            self._live.discard(transport)
        return resp

    async def _cancel(self, request: web.Request) -> web.Response:
        rid = request.match_info["id"]
        self.cancelled.append(rid)
        return web.json_response({"id": rid, "object": "response", "status": "cancelled"})


async def _health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _models(_: web.Request) -> web.Response:
    model = {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake-upstream"}
    return web.json_response({"object": "list", "data": [model]})


async def _write_frames(resp: web.StreamResponse, frames: Sequence[Frame], delay: float) -> None:
    if delay <= 0 and not any(isinstance(f, Gate) for f in frames):
        await resp.write(b"".join(f() if callable(f) else f for f in frames))  # one write
        return
    for i, frame in enumerate(frames):
        if isinstance(frame, Gate):
            await frame.passed()
            continue
        if i and delay > 0:
            await asyncio.sleep(delay)  # asyncio sleep: other streams keep flowing meanwhile
        await resp.write(frame() if callable(frame) else frame)


async def _cut(transport: asyncio.Transport) -> None:
    # Let the frames already written reach the client, so it sees them before the failure.
    # asyncio offers no "write buffer empty" event, hence the short poll.
    while transport.get_write_buffer_size() and not transport.is_closing():  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    sock = transport.get_extra_info("socket")
    if sock is not None:  # linger 0: close with RST instead of FIN, like a dropped upstream
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _cli_reply(args: argparse.Namespace) -> Reply:
    if args.text is not None:
        return text_stream(args.text, delay=0.02 if args.delay is None else args.delay)
    name, delay = args.fixture, args.delay or 0.0
    if name.endswith(".sse"):
        return sse_file(Path(name).name, delay=delay)
    return jsonl_file(name, delay=delay)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI Responses upstream on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--fixture", default="gpt5_moderation_stream.jsonl", help="x.jsonl|x.sse")
    source.add_argument("--text", help="answer every request with this text (text_stream)")
    parser.add_argument("--delay", type=float, default=None, help="seconds between frames")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with FakeUpstream(port=args.port, default=_cli_reply(args)) as upstream:
        print(upstream.base_url, flush=True)
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
