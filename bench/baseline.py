"""The baseline: one bare HTTP/1.1 client per stream reading the fake upstream directly.

httptools parsing and orjson, so its figures are the floor every server mode is compared with.
"""

from __future__ import annotations

import asyncio
import time

import httptools
import orjson

from bench.fake import answer_text


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
        plan = self.run.plan
        body = orjson.dumps({"model": plan.get("model", "fake-model"), "stream": True,
                             "input": [{"role": "user", "content": key}]})  # fmt: skip
        self.pending = b""
        self.cur = {"stream": self.index, "turn": self.turn, "key": key, "sent": [],
                    "recv": [], "t_send": time.time(), "t_done": None, "text": []}  # fmt: skip
        self.transport.write(
            b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\naccept: text/event-stream\r\n"
            b"%scontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (self.run.auth, len(body), body)
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
        # A peer gateway (bench/peer.py) wants its key; the fake wants none.
        key = plan.get("api_key")
        self.auth = b"authorization: Bearer %s\r\n" % key.encode() if key else b""
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
