"""The benchmark's clients, in a process of their own: WebSocket tabs, or the bare baseline.

python -m bench.clients PLAN.json RESULT.json

Talks to the orchestrator over stdin/stdout, one line each way:
  -> "ready {json}"  every socket is connected (or failed)   <- "go"
  -> "done"          every turn ended; RESULT.json written     <- "close"
  -> "bye"

Both clients are bare asyncio protocols on uvloop (a WebSocket client with
permessage-deflate, offered as browsers do; an HTTP/1.1 client with httptools parsing), so
that reading hundreds of streams costs little CPU next to the server under test. Each
records the wall-clock time of every read; the orchestrator joins those with the fake
upstream's `sent_at` stamps.

Plan ("ws"): sockets [{path, cookie}], streams [{conv, sender, viewer}], ramp, turns,
deltas, timeout, deflate, host, port. Stream i sends its first message at go + i*ramp/N,
each next one as soon as the previous answer has ended in both its sockets.
Plan ("baseline"): streams N, prefix, ramp, turns, host, port (the fake upstream).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
import re
import resource
import sys
import time
import zlib

import httptools
import orjson
import uvloop

from bench.fake import answer_text

ARTICLE = re.compile(r'<article [^>]*?id="m(\d+)" class="message assistant status-(\w+)"')
TEXT = re.compile(
    r'<div [^>]*?id="(m\d+-i0-text-0)" class="([^"]*)">(.*?)</div>'
    r'|<span hx-swap-oob="beforeend:#(m\d+-i0-text-0)">(.*?)</span>',
    re.S,
)
COMPOSER_ERROR = re.compile(r'<div id="composer-error"[^>]*>(.*?)</div>', re.S)
TAGS = re.compile(r"<[^>]+>")


def composer_errors(text: str) -> list[str]:
    """Error messages shown under the composer (an empty box clears it: not an error)."""
    found = (html.unescape(TAGS.sub("", m.group(1))).strip() for m in COMPOSER_ERROR.finditer(text))
    return [message for message in found if message]


FINAL = {"completed", "incomplete", "failed", "cancelled", "interrupted"}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- WebSocket client


class WSClient(asyncio.Protocol):
    """A bare RFC 6455 client: text frames in (fragments and deflate handled), text out."""

    def __init__(self, host: str, port: int, path: str, cookie: str, deflate: bool) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Origin: http://{host}:{port}\r\nCookie: sessionid={cookie}\r\n"
            + (
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                if deflate
                else ""
            )
            + "\r\n"
        ).encode()
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.buf = bytearray()
        self.upgraded = False
        self.deflate = False
        self.reset_inflater = False
        self.inflater = None
        self.fragments: list[bytes] = []
        self.compressed = False
        self.on_message = None  # callable(t, text)
        self.close_code: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        elif self.close_code is None:
            self.close_code = 1006

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            status = head.split("\r\n", 1)[0]
            if " 101 " not in status + " ":
                self.opened.set_exception(ConnectionError(f"handshake refused: {status}"))
                self.transport.close()
                return
            ext = ""
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-extensions":
                    ext = value.lower()
            if "permessage-deflate" in ext:
                self.deflate = True
                self.reset_inflater = "server_no_context_takeover" in ext
                self.inflater = zlib.decompressobj(-15)
            self.upgraded = True
            self.opened.set_result(True)
        self._frames(now)

    def _frames(self, now: float) -> None:
        buf = self.buf
        while True:
            if len(buf) < 2:
                return
            b0, b1 = buf[0], buf[1]
            length = b1 & 0x7F
            pos = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                pos = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                pos = 10
            if b1 & 0x80:
                pos += 4  # servers never mask; skip a key if one did
            if len(buf) < pos + length:
                return
            payload = bytes(buf[pos : pos + length])
            del buf[: pos + length]
            opcode = b0 & 0x0F
            if opcode in (1, 2, 0):
                if opcode:
                    self.compressed = bool(b0 & 0x40)
                self.fragments.append(payload)
                if b0 & 0x80:
                    data = b"".join(self.fragments)
                    self.fragments = []
                    if self.compressed:
                        if self.reset_inflater:
                            self.inflater = zlib.decompressobj(-15)
                        data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
                    if self.on_message is not None:
                        self.on_message(now, data.decode("utf-8"))
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._send(0x8, payload[:2])
                self.transport.close()
                return
            elif opcode == 9:
                self._send(0xA, payload)

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            head = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        reps = mask * (n // 4 + 1)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(reps[:n], "big")).to_bytes(
            n, "big"
        )
        self.transport.write(head + mask + masked)

    def send_text(self, text: str) -> None:
        self._send(0x1, text.encode())

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()


class Turn:
    __slots__ = (
        "key", "t_send", "aid", "text", "frames", "times", "lengths", "t_done", "status",
        "final_text", "errors", "sender_done", "viewer_done", "deadline",
    )  # fmt: skip

    def __init__(self, key: str, t_send: float, timeout: float) -> None:
        self.key = key
        self.t_send = t_send
        self.aid: str | None = None
        self.text = ""
        self.frames = 0
        self.times: list[float] = []
        self.lengths: list[int] = []
        self.t_done: float | None = None
        self.status: str | None = None
        self.final_text: str | None = None
        self.errors: list[str] = []
        self.sender_done = False
        self.viewer_done = False
        self.deadline = t_send + timeout


class Stream:
    """One conversation: a sender tab that types, a viewer tab that is measured (maybe the same)."""

    def __init__(self, run: WSRun, index: int, conv: int, sender: WSClient, viewer: WSClient):
        self.run = run
        self.index = index
        self.conv = conv
        self.sender = sender
        self.viewer = viewer
        self.turn: Turn | None = None
        self.done_turns: list[Turn] = []
        self.sender_aid: str | None = None
        self.stray_frames = 0
        if sender is viewer:
            sender.on_message = self.on_both
        else:
            sender.on_message = self.on_sender
            viewer.on_message = self.on_viewer

    def start_turn(self) -> None:
        k = len(self.done_turns) + 1
        key = f"bench c{self.conv} t{k}"
        self.turn = Turn(key, time.time(), self.run.timeout)
        self.sender_aid = None
        self.sender.send_text(json.dumps({"action": "send", "message": key}))

    def on_both(self, t: float, text: str) -> None:
        self.on_viewer(t, text)
        turn = self.turn
        if turn is not None and turn.viewer_done and not turn.sender_done:
            turn.sender_done = True
            self._maybe_next()

    def on_sender(self, t: float, text: str) -> None:
        turn = self.turn
        if turn is None:
            return
        for m in ARTICLE.finditer(text):
            if self.sender_aid is None:
                self.sender_aid = m.group(1)
            if m.group(1) == self.sender_aid and m.group(2) in FINAL:
                turn.sender_done = True
        if "composer-error" in text:
            for message in composer_errors(text):
                turn.errors.append("sender: " + message)
        self._maybe_next()

    def on_viewer(self, t: float, text: str) -> None:
        turn = self.turn
        if turn is None or turn.viewer_done:
            self.stray_frames += 1
            return
        turn.frames += 1
        final = None
        for m in ARTICLE.finditer(text):
            if turn.aid is None:
                turn.aid = m.group(1)
            if m.group(1) == turn.aid and m.group(2) in FINAL:
                final = m.group(2)
        if turn.aid is not None:
            target = f"m{turn.aid}-i0-text-0"
            before = len(turn.text)
            for m in TEXT.finditer(text):
                if m.group(1) == target:
                    content = html.unescape(TAGS.sub("", m.group(3)))
                    if "streaming" in m.group(2):
                        turn.text = content
                    else:
                        turn.final_text = content
                elif m.group(4) == target:
                    turn.text += html.unescape(m.group(5))
            length = len(turn.text)
            if final and turn.final_text is not None:
                length = max(length, len(turn.final_text))
            if length != before:
                turn.times.append(t)
                turn.lengths.append(length)
        if "composer-error" in text:
            turn.errors.extend(composer_errors(text))
        if final:
            turn.status = final
            turn.t_done = t
            turn.viewer_done = True
        self._maybe_next()

    def _maybe_next(self) -> None:
        turn = self.turn
        if turn is None or not (turn.viewer_done and turn.sender_done):
            return
        self._end_turn()

    def _end_turn(self) -> None:
        self.done_turns.append(self.turn)
        self.turn = None
        if len(self.done_turns) < self.run.turns:
            self.start_turn()
        else:
            self.run.stream_finished()

    def check_timeout(self, now: float) -> None:
        turn = self.turn
        if turn is not None and now > turn.deadline:
            turn.errors.append(
                f"timeout: answer not ended after {self.run.timeout:g} s "
                f"(viewer done {turn.viewer_done}, sender done {turn.sender_done})"
            )
            self.done_turns.append(turn)
            self.turn = None
            self.run.stream_finished()  # the conversation may still be live: send no more

    def results(self) -> list[dict]:
        expected = self.run.expected
        out = []
        for k, turn in enumerate(self.done_turns, 1):
            errors = list(turn.errors)
            if self.sender.close_code is not None or self.viewer.close_code is not None:
                errors.append(f"socket closed ({self.sender.close_code}, {self.viewer.close_code})")
            out.append(
                {
                    "stream": self.index,
                    "conv": self.conv,
                    "turn": k,
                    "key": turn.key,
                    "t_send": turn.t_send,
                    "t_done": turn.t_done,
                    "status": turn.status,
                    "frames": turn.frames,
                    "times": turn.times,
                    "lengths": turn.lengths,
                    "streamed_ok": turn.text == expected,
                    "final_ok": (turn.final_text or "").strip() == expected.strip(),
                    "errors": errors,
                }
            )
        return out


class WSRun:
    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.turns = plan["turns"]
        self.timeout = plan["timeout"]
        self.expected = answer_text(plan["deltas"])[0]
        self.streams: list[Stream] = []
        self.remaining = 0
        self.all_done = asyncio.Event()
        self.clients: list[WSClient | None] = []
        self.connect_errors: list[str] = []

    async def connect(self) -> dict:
        loop = asyncio.get_running_loop()
        plan = self.plan
        gate = asyncio.Semaphore(32)

        async def one(spec: dict) -> WSClient | None:
            async with gate:
                client = WSClient(plan["host"], spec["port"], spec["path"], spec["cookie"],
                                  plan["deflate"])  # fmt: skip
                try:
                    await loop.create_connection(lambda: client, plan["host"], spec["port"])
                    await asyncio.wait_for(client.opened, 30)
                except (OSError, ConnectionError, TimeoutError) as exc:
                    self.connect_errors.append(f"{spec['path']}: {exc}")
                    return None
                return client

        self.clients = await asyncio.gather(*(one(s) for s in plan["sockets"]))
        for i, spec in enumerate(plan["streams"]):
            sender, viewer = self.clients[spec["sender"]], self.clients[spec["viewer"]]
            if sender is None or viewer is None:
                continue
            self.streams.append(Stream(self, i, spec["conv"], sender, viewer))
        await asyncio.sleep(0.5)  # let attach-time frames (snapshots, bridge joins) settle
        deflate = any(c is not None and c.deflate for c in self.clients)
        return {
            "connected": sum(c is not None for c in self.clients),
            "failed": len(self.connect_errors),
            "errors": self.connect_errors[:5],
            "deflate": deflate,
        }

    def stream_finished(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.all_done.set()

    async def go(self) -> None:
        loop = asyncio.get_running_loop()
        n = len(self.streams)
        self.remaining = n
        if n == 0:
            return
        start = loop.time() + 0.05
        step = self.plan["ramp"] / n
        for i, stream in enumerate(self.streams):
            loop.call_at(start + i * step, stream.start_turn)
        while not self.all_done.is_set():
            try:
                await asyncio.wait_for(self.all_done.wait(), 0.5)
            except TimeoutError:
                now = time.time()
                for stream in self.streams:
                    stream.check_timeout(now)

    def results(self) -> dict:
        turns = [t for s in self.streams for t in s.results()]
        return {
            "turns": turns,
            "connect_errors": self.connect_errors,
            "stray_frames": sum(s.stray_frames for s in self.streams),
        }

    def close(self) -> None:
        for client in self.clients:
            if client is not None:
                client.close()


# ---------------------------------------------------------------- bare baseline client


class SSEClient(asyncio.Protocol):
    """Reads the fake upstream directly: POST, then the chunked SSE stream, deltas parsed."""

    def __init__(self, run: BaselineRun, index: int) -> None:
        self.run = run
        self.index = index
        self.parser = httptools.HttpResponseParser(self)
        self.pending = b""
        self.turn = 0
        self.results: list[dict] = []
        self.cur: dict | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def start_turn(self) -> None:
        self.turn += 1
        key = f"{self.run.prefix} s{self.index} t{self.turn}"
        body = orjson.dumps(
            {"model": "fake-model", "input": [{"role": "user", "content": key}], "stream": True}
        )
        self.pending = b""
        self.cur = {"stream": self.index, "turn": self.turn, "key": key, "sent": [],
                    "recv": [], "t_send": time.time(), "t_done": None, "text": []}  # fmt: skip
        self.transport.write(
            b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\naccept: text/event-stream\r\n"
            b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )

    def data_received(self, data: bytes) -> None:
        self.now = time.time()
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        data = self.pending + body
        *events, self.pending = data.split(b"\n\n")
        cur = self.cur
        for event in events:
            if b"output_text.delta" not in event:
                continue
            payload = orjson.loads(event[event.index(b"data: ") + 6 :])
            cur["sent"].append(payload["sent_at"])
            cur["recv"].append(self.now)
            cur["text"].append(payload["delta"])

    def on_message_complete(self) -> None:
        cur = self.cur
        cur["t_done"] = self.now
        cur["ok"] = "".join(cur.pop("text")) == self.run.expected
        self.results.append(cur)
        self.cur = None
        if self.turn < self.run.turns:
            asyncio.get_running_loop().call_soon(self.start_turn)
        else:
            self.run.stream_finished()


class BaselineRun:
    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.prefix = plan["prefix"]
        self.turns = plan["turns"]
        self.expected = answer_text(plan["deltas"])[0]
        self.clients: list[SSEClient] = []
        self.remaining = 0
        self.all_done = asyncio.Event()
        self.connect_errors: list[str] = []

    async def connect(self) -> dict:
        loop = asyncio.get_running_loop()
        for i in range(self.plan["streams"]):
            client = SSEClient(self, i)
            try:
                await loop.create_connection(
                    lambda c=client: c, self.plan["host"], self.plan["port"]
                )
            except OSError as exc:
                self.connect_errors.append(str(exc))
                continue
            self.clients.append(client)
        return {"connected": len(self.clients), "failed": len(self.connect_errors),
                "errors": self.connect_errors[:5], "deflate": False}  # fmt: skip

    def stream_finished(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.all_done.set()

    async def go(self) -> None:
        loop = asyncio.get_running_loop()
        n = len(self.clients)
        self.remaining = n
        start = loop.time() + 0.05
        for i, client in enumerate(self.clients):
            loop.call_at(start + i * self.plan["ramp"] / n, client.start_turn)
        await asyncio.wait_for(self.all_done.wait(), self.plan["timeout"] * self.turns + 30)

    def results(self) -> dict:
        return {"turns": [r for c in self.clients for r in c.results],
                "connect_errors": self.connect_errors}  # fmt: skip

    def close(self) -> None:
        for client in self.clients:
            client.transport.close()


# ---------------------------------------------------------------- main


async def _readline() -> str:
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


def _save(path: str, data: dict) -> None:
    with open(path, "wb") as f:
        f.write(orjson.dumps(data))


async def main(plan: dict, result_path: str) -> None:
    run = WSRun(plan) if plan["kind"] == "ws" else BaselineRun(plan)
    ready = await run.connect()
    print("ready " + json.dumps(ready), flush=True)
    if await _readline() != "go":
        return
    cpu0, wall0 = cpu_seconds(), time.time()
    try:
        await run.go()
        failure = None
    except TimeoutError:
        failure = "timeout"
    result = run.results()
    result["client_cpu_s"] = cpu_seconds() - cpu0
    result["wall_s"] = time.time() - wall0
    result["failure"] = failure
    _save(result_path, result)
    print("done", flush=True)
    await _readline()
    run.close()
    await asyncio.sleep(0.2)
    print("bye", flush=True)


if __name__ == "__main__":
    with open(sys.argv[1]) as plan_file:
        uvloop.run(main(json.load(plan_file), sys.argv[2]))
