"""Probes the launcher installs around the real app: loop stalls, database writes, layer messages.

None of this touches the app's code. The ASGI wrapper answers `/__bench__/stats` itself
(everything else goes to `project.asgi.application` unchanged) and tags each connection's
context with its conversation id, so database writes made on behalf of a socket, including
those of the turn task it starts and of `sync_to_async` threads (asgiref copies the context),
can be attributed to that conversation.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
import time
from urllib.parse import parse_qs

import orjson

CONVERSATION: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "bench_conversation", default=None
)
_WS_PATH = re.compile(r"/ws/conversations/(\d+)/")
_TABLE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.I)
TICK = 0.005  # the loop monitor's sleep


class Probe:
    def __init__(self) -> None:
        self.reset()
        self.monitor: asyncio.Task | None = None
        self.mem_base = self.mem_snapshot = None
        self.mem_peak = 0

    def reset(self) -> None:
        self.max_stall = 0.0
        self.stalls_over_10ms = 0
        self.stall_at = 0.0
        self.ticks = 0
        self.writes: list[tuple[float, float, int | None, str, str]] = []
        self.layer: dict[str, int] = {}
        self.since = time.time()

    def snapshot(self) -> dict:
        return {
            "pid": os.getpid(),
            "since": self.since,
            "max_stall_ms": self.max_stall * 1000,
            "stall_at": self.stall_at,
            "stalls_over_10ms": self.stalls_over_10ms,
            "ticks": self.ticks,
            "writes": self.writes,
            "layer": self.layer,
        }

    # --- memory (experiment, BENCH_TRACEMALLOC=1): the snapshot at the highest traced size ---
    def memory_check(self) -> None:
        import tracemalloc

        size = tracemalloc.get_traced_memory()[0]
        if self.mem_base is None:
            self.mem_base = tracemalloc.take_snapshot()
        elif size > self.mem_peak:
            self.mem_peak = size
            self.mem_snapshot = tracemalloc.take_snapshot()

    def memory_report(self, top: int = 40) -> str:
        if self.mem_snapshot is None or self.mem_base is None:
            return "no snapshot (set BENCH_TRACEMALLOC=1)\n"
        diff = self.mem_snapshot.compare_to(self.mem_base, "lineno")
        total = sum(d.size_diff for d in diff)
        lines = [f"growth from the first request to the peak: {total / 2**20:.1f} MiB"]
        for d in diff[:top]:
            lines.append(f"{d.size_diff / 1024:10.1f} KiB {d.count_diff:8d} blocks  {d.traceback}")
        return "\n".join(lines) + "\n"

    # --- event loop lag: sleep TICK, record the overshoot ---
    async def watch_loop(self) -> None:
        perf = time.perf_counter
        tracing = bool(os.environ.get("BENCH_TRACEMALLOC"))
        while True:
            if tracing and self.ticks % 400 == 0:
                self.memory_check()
            start = perf()
            await asyncio.sleep(TICK)
            lag = perf() - start - TICK
            self.ticks += 1
            if lag > 0.010:
                self.stalls_over_10ms += 1
            if lag > self.max_stall:
                self.max_stall = lag
                self.stall_at = time.time()

    # --- database writes (Django execute wrapper, installed on every new connection) ---
    def execute_wrapper(self, execute, sql, params, many, context):
        match = _TABLE.match(sql)
        if match is None:
            return execute(sql, params, many, context)
        start = time.time()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = match.group(1).split()[0].upper()
            self.writes.append((start, time.time(), CONVERSATION.get(), kind, match.group(2)))

    def on_connection_created(self, sender, connection, **kwargs) -> None:
        if self.execute_wrapper not in connection.execute_wrappers:
            connection.execute_wrappers.append(self.execute_wrapper)

    # --- channel layer messages ---
    def wrap_layer(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        for op in ("send", "group_send", "group_add", "group_discard"):
            original = getattr(layer, op)

            async def counted(*args, _op=op, _original=original, **kwargs):
                self.layer[_op] = self.layer.get(_op, 0) + 1
                return await _original(*args, **kwargs)

            setattr(layer, op, counted)


PROBE = Probe()


def install() -> None:
    from django.db.backends.signals import connection_created

    connection_created.connect(PROBE.on_connection_created, weak=False)
    PROBE.wrap_layer()


def wrap(app):
    """The ASGI app the launcher serves: the real one, plus `/__bench__/stats`."""

    async def application(scope, receive, send):
        if PROBE.monitor is None:
            PROBE.monitor = asyncio.get_running_loop().create_task(PROBE.watch_loop())
            if os.environ.get("BENCH_GC") == "freeze":
                import gc

                gc.freeze()  # everything loaded so far: never scanned again
                gc.enable()
        if scope["type"] == "http" and scope["path"].startswith("/__bench__/"):
            await _stats(scope, receive, send)
            return
        if scope["type"] == "websocket":
            match = _WS_PATH.match(scope["path"])
            if match:
                CONVERSATION.set(int(match.group(1)))
        await app(scope, receive, send)

    return application


async def _stats(scope, receive, send) -> None:
    query = parse_qs(scope.get("query_string", b"").decode())
    if scope["path"] == "/__bench__/memory":
        body = PROBE.memory_report().encode()
    else:
        body = orjson.dumps(PROBE.snapshot())
    if query.get("reset") == ["1"]:
        PROBE.reset()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
