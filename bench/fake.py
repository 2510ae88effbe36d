"""The benchmark's fake Responses server: answers streamed at a fixed rate, every delta stamped.

It speaks the same wire format as `tests/fake_upstream.text_stream(..., stamp=True)` (SSE
frames with `event:` lines; each `response.output_text.delta` carries `sent_at`, the wall
clock when its frame was written), but serves it from a bare asyncio protocol on uvloop
with httptools parsing, so that at hundreds of streams it costs as little CPU as possible
on a 2-core machine it shares with the server under test and the clients.

Each answer is `deltas` pieces of `chunk` characters (fewer when the request's
`max_output_tokens` is smaller, a piece counting as one token, and then the answer ends
`incomplete` as a real server's would: the app's title request asks for 24); piece i spells its own index
("000 ", "001 ", ...), so a client can tell from the length of the text it has which
deltas have arrived. The first delta goes out with the preamble at once, then one every
1/rate s on an absolute schedule (no drift).

The stream key is the text of the last input message (the person's message). The fake
records, per key, when the request arrived and when each delta was written; the
orchestrator reads and clears that with `GET /__fake__/stamps`.

Run: python -m bench.fake --port 0 --rate 50 --deltas 200   (prints "port N" when ready)
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
import uuid

import httptools
import orjson
import uvloop

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def piece(i: int, width: int) -> str:
    return f"{i:0{width}d} "


def answer_text(deltas: int) -> tuple[str, int]:
    """The full answer and the length of each piece."""
    width = max(3, len(str(deltas - 1)))
    return "".join(piece(i, width) for i in range(deltas)), width + 1


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sse(event: dict) -> bytes:
    return _chunk(b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n")


class Stamps:
    def __init__(self) -> None:
        self.by_key: dict[str, dict] = {}


class Answer:
    """One streamed answer on one connection."""

    def __init__(
        self,
        proto: FakeProtocol,
        key: str,
        cfg: argparse.Namespace,
        stamps: Stamps,
        limit: int | None = None,
    ):
        self.proto = proto
        self.transport = proto.transport
        self.loop = proto.loop
        self.cfg = cfg
        self.text, chunk = answer_text(cfg.deltas)
        self.pieces = [self.text[i : i + chunk] for i in range(0, len(self.text), chunk)]
        self.cut = limit is not None and 0 < limit < len(self.pieces)
        if self.cut:
            self.pieces = self.pieces[:limit]
            self.text = "".join(self.pieces)
        self.interval = 1.0 / cfg.rate
        self.rid = f"resp_bench_{uuid.uuid4().hex}"
        self.mid = f"msg_bench_{uuid.uuid4().hex}"
        self.seq = 0
        self.record = {"req": time.time(), "sent": []}
        stamps.by_key[key] = self.record
        where = {"item_id": self.mid, "output_index": 0, "content_index": 0}
        self.where = where
        # The delta frame without its tail: `"sent_at":<t>}` is appended at write time.
        self._delta_head = [
            orjson.dumps(
                {"type": "response.output_text.delta", **where, "delta": p, "logprobs": []}
            )[:-1]
            for p in self.pieces
        ]

    def _event(self, ev: dict) -> bytes:
        ev["sequence_number"] = self.seq
        self.seq += 1
        return _sse(ev)

    def _delta(self, i: int) -> bytes:
        t = time.time()
        self.record["sent"].append(t)
        body = b'%s,"sequence_number":%d,"sent_at":%.6f}' % (self._delta_head[i], self.seq, t)
        self.seq += 1
        return _chunk(b"event: response.output_text.delta\ndata: " + body + b"\n\n")

    def start(self) -> None:
        response = {
            "id": self.rid, "object": "response", "created_at": int(time.time()),
            "status": "in_progress", "model": self.cfg.model, "output": [], "usage": None,
            "error": None, "incomplete_details": None,
        }  # fmt: skip
        item = {"id": self.mid, "type": "message", "status": "in_progress", "role": "assistant"}
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        self.response = response
        out = [
            HEAD,
            self._event({"type": "response.created", "response": response}),
            self._event({"type": "response.in_progress", "response": response}),
            self._event({"type": "response.output_item.added", "output_index": 0,
                         "item": {**item, "content": []}}),
            self._event({"type": "response.content_part.added", **self.where, "part": part}),
        ]  # fmt: skip
        self.t0 = self.loop.time()
        out.append(self._delta(0))
        self.transport.write(b"".join(out))
        self.next = 1
        self._schedule()

    def _schedule(self) -> None:
        if self.next < len(self.pieces):
            self.loop.call_at(self.t0 + self.next * self.interval, self._tick)
        else:
            self._finish()

    def _tick(self) -> None:
        if self.transport.is_closing():
            return  # the client hung up (a cancel): stop
        self.transport.write(self._delta(self.next))
        self.next += 1
        self._schedule()

    def _finish(self) -> None:
        text = self.text
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        status = "incomplete" if self.cut else "completed"
        item = {"id": self.mid, "type": "message", "status": status, "role": "assistant",
                "content": [part]}  # fmt: skip
        n = len(self.pieces)
        usage = {
            "input_tokens": 8, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": n,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 8 + n,
        }  # fmt: skip
        done = {**self.response, "status": status,
                "completed_at": int(time.time()), "output": [item], "usage": usage}  # fmt: skip
        if self.cut:
            done["incomplete_details"] = {"reason": "max_output_tokens"}
        out = [
            self._event({"type": "response.output_text.done", **self.where, "text": text,
                         "logprobs": []}),
            self._event({"type": "response.content_part.done", **self.where, "part": part}),
            self._event({"type": "response.output_item.done", "output_index": 0, "item": item}),
            self._event({"type": f"response.{done['status']}", "response": done}),
            b"0\r\n\r\n",
        ]  # fmt: skip
        self.record["end"] = time.time()
        self.transport.write(b"".join(out))
        self.proto.answer = None


class FakeProtocol(asyncio.Protocol):
    stamps: Stamps
    cfg: argparse.Namespace

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.answer: Answer | None = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        url = httptools.parse_url(self.url)
        path = url.path
        if method == b"POST" and path == b"/v1/responses":
            self._responses(b"".join(self.body))
        elif path == b"/__fake__/stamps":
            clear = b"clear=1" in (url.query or b"")
            payload = orjson.dumps(self.stamps.by_key)
            if clear:
                self.stamps.by_key = {}
            self._reply(200, payload)
        elif path == b"/health":
            self._reply(200, b'{"status":"ok"}')
        else:
            self._reply(404, b'{"error":{"message":"not found","type":"not_found"}}')

    def _reply(self, status: int, body: bytes) -> None:
        head = b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        self.transport.write(head % (status, len(body)) + body)

    def _responses(self, raw: bytes) -> None:
        try:
            request = orjson.loads(raw)
            key, answered = request_key(request["input"])
            limit = request.get("max_output_tokens")
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
            self._reply(400, b'{"error":{"message":"bad request","type":"invalid_request"}}')
            return
        if key.endswith(TOOL_MARK) and not answered:
            ToolRound(self, self.cfg).start()  # round 1: a reasoning summary and a tool call
            return
        limit = limit if isinstance(limit, int) else None
        self.answer = Answer(self, key, self.cfg, self.stamps, limit)
        self.answer.start()


TOOL_MARK = " +tools"  # a message ending so is answered after a reasoning + function-call round
SUMMARY = ["Checking ", "the time ", "first, ", "then ", "answering."]


def request_key(items: list) -> tuple[str, bool]:
    """The last user message's text, and whether a function call was answered after it."""
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if item.get("role") == "user":
            content = item["content"]
            key = content if isinstance(content, str) else str(content)
            answered = any(x.get("type") == "function_call_output" for x in items[i + 1 :])
            return key, answered
    raise ValueError("no user message")


class ToolRound:
    """Round 1 of a `+tools` answer: a reasoning summary (5 deltas), then a call of the app's
    built-in clock tool; the app runs it and asks again (round 2: the stamped text)."""

    def __init__(self, proto: FakeProtocol, cfg: argparse.Namespace) -> None:
        self.proto = proto
        self.cfg = cfg
        self.seq = 0

    def _event(self, ev: dict) -> bytes:
        ev["sequence_number"] = self.seq
        self.seq += 1
        return _sse(ev)

    def start(self) -> None:
        rid, rs, fc = (f"{p}_bench_{uuid.uuid4().hex}" for p in ("resp", "rs", "fc"))
        response = {"id": rid, "object": "response", "created_at": int(time.time()),
                    "status": "in_progress", "model": self.cfg.model, "output": [],
                    "usage": None, "error": None, "incomplete_details": None}  # fmt: skip
        text = "".join(SUMMARY)
        reasoning = {"id": rs, "type": "reasoning", "summary": []}
        done_reasoning = {**reasoning, "summary": [{"type": "summary_text", "text": text}]}
        args = '{"timezone":"UTC"}'
        call = {"id": fc, "type": "function_call", "status": "in_progress", "arguments": "",
                "call_id": f"call_{uuid.uuid4().hex[:12]}", "name": "current_time"}  # fmt: skip
        done_call = {**call, "status": "completed", "arguments": args}
        where = {"item_id": rs, "output_index": 0, "summary_index": 0}
        usage = {"input_tokens": 8, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 12},
                 "total_tokens": 28}  # fmt: skip
        events = [
            {"type": "response.created", "response": response},
            {"type": "response.in_progress", "response": response},
            {"type": "response.output_item.added", "output_index": 0, "item": reasoning},
            {"type": "response.reasoning_summary_part.added", **where,
             "part": {"type": "summary_text", "text": ""}},
            *({"type": "response.reasoning_summary_text.delta", **where, "delta": d}
              for d in SUMMARY),
            {"type": "response.reasoning_summary_text.done", **where, "text": text},
            {"type": "response.reasoning_summary_part.done", **where,
             "part": {"type": "summary_text", "text": text}},
            {"type": "response.output_item.done", "output_index": 0, "item": done_reasoning},
            {"type": "response.output_item.added", "output_index": 1, "item": call},
            {"type": "response.function_call_arguments.delta", "item_id": fc, "output_index": 1,
             "delta": args},
            {"type": "response.function_call_arguments.done", "item_id": fc, "output_index": 1,
             "arguments": args},
            {"type": "response.output_item.done", "output_index": 1, "item": done_call},
            {"type": "response.completed", "response": {
                **response, "status": "completed", "output": [done_reasoning, done_call],
                "usage": usage}},
        ]  # fmt: skip
        out = [HEAD, *(self._event(e) for e in events), b"0\r\n\r\n"]
        self.proto.transport.write(b"".join(out))


async def serve(cfg: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    FakeProtocol.stamps = Stamps()
    FakeProtocol.cfg = cfg
    server = await loop.create_server(FakeProtocol, "127.0.0.1", cfg.port, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=50.0, help="deltas per second")
    parser.add_argument("--deltas", type=int, default=200, help="deltas per answer")
    parser.add_argument("--model", default="fake-model")
    cfg = parser.parse_args(argv)
    uvloop.run(serve(cfg))
    sys.exit(0)


if __name__ == "__main__":
    main()
