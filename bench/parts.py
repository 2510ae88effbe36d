"""CPU per delta of the relay's parts in isolation, against the same fake upstream.

python -m bench.parts [--streams 100] [--loop asyncio|uvloop]

Runs N concurrent answers (200 deltas at 50/s each, as in `make bench`) in this process,
through increasing slices of the app's own code, and prints this process's CPU per delta:

  http     the request and the raw body chunks over httpx + aiohttp (chat.upstream.body), the
           transport streams used before issue 12: no SSE framing or event parsing
  wire     the same over the bare reader (chat.upstream.bare: httptools protocol + pool),
           the transport streams use now: the floor under `read`
  read-httpx  stream_response on the httpx path (a client passed in): the old `read`
  read     chat.upstream.client.stream_response: HTTP, SSE framing, event parsing, timeouts
  apply    + TurnState.apply for every event
  render   + every ~30 ms: take_changes() and frames.delta_frame() (what a frame costs to build)
  timers   render as the runner did before the process clock: leading edge, then one
           `call_at` per turn (cancelled when a structural event flushes first)
  tick     render as the runner does now: leading edge, then the process's flush clock
           (chat/turns/ticker.py: one timer per 5 ms grain for all turns)

No server, socket, database or channel layer: what is left of `make bench`'s
server_cpu_loop_us_per_delta after these is the relay (runner timers, registry, consumer
queue, the ASGI server's WebSocket send) and the per-turn work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def http_only(config, body: dict) -> int:
    """The httpx transport alone: the client's request, then its raw chunks (deltas counted)."""
    import orjson

    from chat.upstream.body import Body
    from chat.upstream.client import _open, shared_client

    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.first_event_timeout
    url, content = f"{config.base_url}/responses", orjson.dumps({**body, "stream": True})
    response = await _open(shared_client(config), "POST", url, content, config, deadline)
    reader = Body(response, loop, deadline, config.idle_timeout)
    try:
        return await _count(reader.read)
    finally:
        await reader.aclose()
        await response.aclose()


async def wire_only(config, body: dict) -> int:
    """The bare reader alone: the same request, then its raw chunks (deltas counted)."""
    import orjson

    from chat.upstream.client import _open_bare

    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.first_event_timeout
    url, content = f"{config.base_url}/responses", orjson.dumps({**body, "stream": True})
    response = await _open_bare("POST", url, content, config, deadline)
    reader = response.body(loop, deadline, config.idle_timeout)
    try:
        return await _count(reader.read)
    finally:
        await reader.aclose()
        await response.aclose()


async def _count(read) -> int:
    n = 0
    while chunk := await read():
        n += chunk.count(b"event: response.output_text.delta\n")
    return n


async def one(level: str, config, key: str, flush: float) -> int:
    from chat.turns import frames
    from chat.turns.state import TurnState
    from chat.upstream.client import shared_client, stream_response

    body = {"model": "fake-model", "input": [{"role": "user", "content": key}]}
    if level == "http":
        return await http_only(config, body)
    if level == "wire":
        return await wire_only(config, body)
    client = shared_client(config) if level == "read-httpx" else None
    state = TurnState()
    if level in ("timers", "tick"):
        return await coalesced(level, config, body, state, flush)
    loop = asyncio.get_running_loop()
    last = 0.0
    n = 0
    rendered = 0
    async for event in stream_response(body, config=config, client=client):
        n += event.type == "response.output_text.delta"
        if level in ("read", "read-httpx"):
            continue
        state.apply(event)
        if level == "render" and loop.time() - last >= flush:
            last = loop.time()
            changes = state.take_changes()
            if changes:
                frames.delta_frame(1, state, changes, rendered)
                rendered = len(state.items)
    return n


async def coalesced(level: str, config, body: dict, state, flush: float) -> int:
    """Frames as the runner makes them: at once when quiet, else when the window ends."""
    from chat.turns import frames
    from chat.turns.ticker import flush_tick
    from chat.upstream.client import stream_response

    loop = asyncio.get_running_loop()
    tick = flush_tick(flush)
    n = 0
    s = {"last": -1e9, "timer": None, "slot": None}

    def emit() -> None:
        if s["timer"] is not None:
            s["timer"].cancel()
            s["timer"] = None
        if s["slot"] is not None:
            s["slot"].pop(emit, None)
            s["slot"] = None
        changes = state.take_changes()
        if changes:
            s["last"] = loop.time()
            frames.delta_frame(1, state, changes, len(state.items))

    async for event in stream_response(body, config=config):
        n += event.type == "response.output_text.delta"
        structural = state.apply(event)
        now = loop.time()
        if structural or now - s["last"] >= flush:
            emit()
        elif level == "timers" and s["timer"] is None:
            s["timer"] = loop.call_at(s["last"] + flush, emit)
        elif level == "tick" and s["slot"] is None:
            s["slot"] = tick.at(s["last"] + flush, emit)
    emit()
    return n


async def run(level: str, streams: int, fake_url: str, ramp: float) -> tuple[float, int, float]:
    from chat.upstream.client import UpstreamConfig, close_shared_client

    config = UpstreamConfig(base_url=f"{fake_url}/v1")

    async def later(i: int) -> int:
        await asyncio.sleep(i * ramp / streams)
        return await one(level, config, f"parts {level} {i} {time.time()}", 0.03)

    await one(level, config, "parts warm-up", 0.03)  # the path measured, connected once
    cpu0, t0 = _cpu(), time.monotonic()
    counts = await asyncio.gather(*(later(i) for i in range(streams)))
    cpu, wall = _cpu() - cpu0, time.monotonic() - t0
    await close_shared_client()
    return cpu, sum(counts), wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=100)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = p.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ.setdefault("SECRET_KEY", "bench-parts")
    os.environ.setdefault("RUN_DIR", "/tmp/bench-parts")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from bench.procs import Fake

    fake = Fake(50.0, 200, Path("/tmp/bench-parts-fake.log"))
    try:
        runner = asyncio.run
        if args.loop == "uvloop":
            import uvloop

            runner = uvloop.run
        print(f"{args.streams} streams, 200 deltas at 50/s each, {args.loop} loop")
        # Old transport beside the new one, in the same run (issue 12: machines differ ~2x).
        levels = ("http", "wire", "read-httpx", "read", "apply", "render", "timers", "tick")
        for level in levels:
            cpu, deltas, wall = runner(run(level, args.streams, fake.url, 4.0))
            print(f"  {level:<10} {cpu / deltas * 1e6:6.1f} µs CPU per delta "
                  f"({cpu / wall:.2f} cores, {deltas} deltas)")  # fmt: skip
    finally:
        fake.close()


if __name__ == "__main__":
    main()
