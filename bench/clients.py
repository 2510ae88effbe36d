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
import html
import json
import re
import resource
import sys
import time

import orjson
import uvloop

from bench.baseline import BaselineRun
from bench.fake import answer_text
from bench.websocket import WSClient

ARTICLE = re.compile(r'<article [^>]*?id="m(\d+)" class="message assistant status-(\w+)"')
# The answer's text part: item 0, or a later item after a reasoning + tool round ("+tools").
TEXT = re.compile(
    r'<div [^>]*?id="(m\d+-i\d+-text-0)" class="([^"]*)">(.*?)</div>'
    r'|<span hx-swap-oob="beforeend:#(m\d+-i\d+-text-0)">(.*?)</span>',
    re.S,
)
TOOL_SIGNS = ("the time first", "current_time")  # the fake's reasoning summary, the tool name
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


class Turn:
    __slots__ = (
        "key", "t_send", "aid", "text", "frames", "times", "lengths", "t_done", "status",
        "final_text", "errors", "sender_done", "viewer_done", "deadline", "seen",
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
        self.seen: set[str] = set()  # TOOL_SIGNS the viewer saw ("+tools" answers)


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
        key = f"bench c{self.conv} t{k}{self.run.suffix}"
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
        if self.run.suffix:
            turn.seen.update(sign for sign in TOOL_SIGNS if sign in text)
        if turn.aid is not None:
            prefix = f"m{turn.aid}-i"
            before = len(turn.text)
            for m in TEXT.finditer(text):
                if m.group(1) and m.group(1).startswith(prefix):
                    content = html.unescape(TAGS.sub("", m.group(3)))
                    if "streaming" in m.group(2):
                        turn.text = content
                    else:
                        turn.final_text = content
                        # The finished item replaces the streamed text (the last deltas may
                        # arrive only in it): what the person sees is the longer text.
                        if content.startswith(turn.text):
                            turn.text = content
                elif m.group(4) and m.group(4).startswith(prefix):
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
            if self.run.suffix and turn.status is not None:
                errors += [f"the viewer never saw {s!r}" for s in TOOL_SIGNS if s not in turn.seen]
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
        self.suffix = plan.get("suffix", "")  # " +tools": a reasoning + tool round first
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
