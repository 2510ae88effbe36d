"""The benchmark's floor relay (bench/floor.py) does the app's job thinly: every delta reaches
the bench client's socket, coalesced, in the shapes the client parses; and the report puts
every figure beside the floor's as a ratio."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from bench import procs
from bench.clients import WSRun
from bench.fake import answer_text
from bench.ratios import add_ratios, ratio_table

ROOT = procs.ROOT


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)  # fmt: skip


@pytest.fixture
def relay():
    fake = _start(["bench.fake", "--port", "0", "--rate", "200", "--deltas", "20"])
    floor = None
    try:
        fake_port = int(fake.stdout.readline().split()[1])
        port = procs.free_port()
        floor = _start(["bench.floor", "--port", str(port),
                        "--upstream", f"http://127.0.0.1:{fake_port}/v1"])  # fmt: skip
        for _ in range(100):
            try:
                procs.get_json(f"http://127.0.0.1:{port}/__bench__/stats")
                break
            except OSError:
                if floor.poll() is not None:
                    raise RuntimeError("the floor did not start") from None
                time.sleep(0.1)
        yield port, fake_port
    finally:
        procs.stop(floor, 5)
        procs.stop(fake, 5)


async def _run(plan: dict) -> dict:
    run = WSRun(plan)
    ready = await run.connect()
    await asyncio.wait_for(run.go(), 20)
    run.close()
    return {"ready": ready, **run.results()}


def test_floor_relays_every_delta_coalesced(relay):
    port, fake_port = relay
    plan = {
        "kind": "ws", "host": "127.0.0.1", "ramp": 0.0, "turns": 2, "deltas": 20,
        "timeout": 10, "deflate": True,
        "sockets": [{"port": port, "path": "/ws/conversations/7/", "cookie": "unused"}],
        "streams": [{"conv": 7, "sender": 0, "viewer": 0}],
    }  # fmt: skip
    result = asyncio.run(_run(plan))
    assert result["ready"]["connected"] == 1 and not result["ready"]["deflate"]
    turns = result["turns"]
    assert [t["turn"] for t in turns] == [1, 2]
    expected = answer_text(20)[0]
    for turn in turns:
        assert turn["status"] == "completed" and not turn["errors"]
        assert turn["streamed_ok"] and turn["final_ok"]
        assert turn["lengths"][-1] == len(expected)
        # 20 deltas 5 ms apart, one frame per 30 ms at most (+ the first and the end).
        assert 2 <= turn["frames"] <= 12
    stamps = procs.get_json(f"http://127.0.0.1:{fake_port}/__fake__/stamps")
    assert set(stamps) == {"bench c7 t1", "bench c7 t2"}


def test_floor_answers_stats_like_the_probe(relay):
    port, _ = relay
    stats = procs.get_json(f"http://127.0.0.1:{port}/__bench__/stats?reset=1")
    assert stats["writes"] == [] and stats["layer"] == {}
    assert stats["max_stall_ms"] >= 0 and isinstance(stats["pid"], int)
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/elsewhere", timeout=5)


def _row(mode: str, n: int, cpu: float, p99: float, passed: bool = True) -> dict:
    return {"mode": mode, "streams": n, "pass": passed, "server_cpu_us_per_delta": cpu,
            "added_latency_ms": {"p50": p99 / 2, "p99": p99}, "ttft_ms": {"p50": 1.0},
            "rss_kib_per_stream": 64.0}  # fmt: skip


def test_every_figure_is_also_a_ratio_to_the_floor_at_the_same_n():
    rows = [
        {"mode": "baseline", "streams": 10, "pass": True},
        _row("floor", 10, 20.0, 30.0),
        _row("floor", 100, 25.0, 32.0),
        _row("uvicorn", 10, 50.0, 33.0),
        _row("uvicorn", 100, 60.0, 70.0, passed=False),
        {"mode": "uvicorn", "streams": 200, "skipped": "time budget", "pass": False},
    ]
    held = add_ratios(rows)
    assert rows[3]["ratio_to_floor"]["server_cpu_us_per_delta"] == 2.5
    assert rows[4]["ratio_to_floor"]["added_p99"] == 2.19
    assert rows[3]["ratio_to_floor"]["rss_kib_per_stream"] == 1.0
    assert rows[3]["ratio_to_floor"]["ttft_p99"] is None  # nothing to divide
    assert "ratio_to_floor" not in rows[0] and "ratio_to_floor" not in rows[5]
    assert held == {"floor": {"streams": 100, "ratio_to_floor": 1.0},
                    "uvicorn": {"streams": 10, "ratio_to_floor": 0.1}}  # fmt: skip
    text = ratio_table(rows, held)
    assert "uvicorn 10 (x0.10)" in text
    line = next(x for x in text.splitlines() if x.startswith("uvicorn") and " 100 " in x)
    assert "2.19" in line and "2.40" in line
    json.dumps(rows)  # latest.json stays plain JSON
