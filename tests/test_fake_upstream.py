"""Checks of the loopback fake upstream itself (tests/fake_upstream.py)."""

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fake_upstream import (
    FIXTURES_DIR,
    FakeUpstream,
    events,
    http_error,
    jsonl_file,
    sse_file,
    text_stream,
)

RAW_SSE = sorted(p.name for p in (FIXTURES_DIR / "raw_sse").glob("*.sse"))


@pytest.fixture
def up():
    with FakeUpstream() as fake:
        yield fake


def post(up, timeout=5.0, **kw):
    return httpx.post(f"{up.base_url}/responses", json={"stream": True}, timeout=timeout, **kw)


def frames_of(body: bytes) -> list[bytes]:
    return [f for f in body.split(b"\n\n") if f]


def parse(body: bytes) -> list[dict]:
    return [json.loads(f.split(b"data: ", 1)[1]) for f in frames_of(body)]


def test_fixtures_dir_found():
    assert (FIXTURES_DIR / "INDEX.md").is_file()
    assert len(RAW_SSE) >= 8


@pytest.mark.parametrize("delay", [0.0, 0.0005])
def test_raw_sse_arrives_byte_for_byte(up, delay):
    for name in RAW_SSE:
        up.enqueue(sse_file(name, delay=delay))
    for name in RAW_SSE:
        r = post(up)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.content == (FIXTURES_DIR / "raw_sse" / name).read_bytes(), name


def test_jsonl_one_frame_per_line(up):
    name = "gpt5_moderation_stream.jsonl"
    lines = (FIXTURES_DIR / name).read_bytes().splitlines()
    up.enqueue(jsonl_file(name), jsonl_file(name, event_lines=False, done_sentinel=True))

    frames = frames_of(post(up).content)
    assert len(frames) == len(lines)
    for frame, line in zip(frames, lines, strict=True):
        assert frame == b"event: " + json.loads(line)["type"].encode() + b"\ndata: " + line

    frames = frames_of(post(up).content)
    assert frames[:-1] == [b"data: " + line for line in lines]
    assert frames[-1] == b"data: [DONE]"


def test_http_error_status_headers_body(up):
    quota = {
        "error": {
            "message": "quota",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    up.enqueue(http_error(429, quota, headers={"retry-after": "0"}), http_error(503, "overloaded"))
    r = post(up)
    assert (r.status_code, r.headers["retry-after"], r.json()) == (429, "0", quota)
    assert r.headers["content-type"].startswith("application/json")
    r = post(up)
    assert (r.status_code, r.text) == (503, "overloaded")
    assert r.headers["content-type"].startswith("text/plain")


def test_fifo_then_500_then_default(up):
    up.enqueue(events([{"type": "a"}]), events([{"type": "b"}]))
    assert [parse(post(up).content)[0]["type"] for _ in range(2)] == ["a", "b"]
    r = post(up)
    assert r.status_code == 500
    assert r.json()["error"]["message"] == "fake upstream: no reply scripted"
    assert [q["json"] for q in up.requests] == [{"stream": True}] * 3
    with FakeUpstream(default=events([{"type": "d"}])) as other:
        assert [parse(post(other).content)[0]["type"] for _ in range(2)] == ["d", "d"]


def test_resume_cancel_health_models(up):
    up.enqueue(jsonl_file("bg_resume_starting_after_0.jsonl"))
    r = httpx.get(f"{up.base_url}/responses/resp_1", params={"starting_after": 0, "stream": "true"})
    assert parse(r.content)[0]["sequence_number"] == 1
    assert up.requests[-1]["query"] == {"starting_after": "0", "stream": "true"}
    r = httpx.post(f"{up.base_url}/responses/resp_1/cancel")
    assert r.json() == {"id": "resp_1", "object": "response", "status": "cancelled"}
    assert up.cancelled == ["resp_1"]
    assert httpx.get(up.base_url.removesuffix("/v1") + "/health").status_code == 200
    assert httpx.get(f"{up.base_url}/models").json()["data"][0]["id"] == "fake-model"
    up.wait_for_requests(4, timeout=0.1)
    with pytest.raises(TimeoutError):
        up.wait_for_requests(5, timeout=0.05)


def test_text_stream_is_valid_and_stamped(up):
    text = "Hello from the fake upstream!"
    up.enqueue(text_stream(text, chunk=5, delay=0, stamp=True), text_stream(text, delay=0))
    before = time.time()
    evs = parse(post(up).content)
    assert [e["sequence_number"] for e in evs] == list(range(len(evs)))
    deltas = [e for e in evs if e["type"] == "response.output_text.delta"]
    assert "".join(d["delta"] for d in deltas) == text and len(deltas) == 6
    assert all(before <= d["sent_at"] <= time.time() for d in deltas)
    assert [e["type"] for e in evs[:4]] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
    ]  # fmt: skip
    done = evs[-1]["response"]
    assert evs[-1]["type"] == "response.completed" and done["status"] == "completed"
    assert done["output"][0]["content"][0]["text"] == text
    assert (
        done["usage"]["total_tokens"]
        == done["usage"]["input_tokens"] + done["usage"]["output_tokens"]
    )
    assert done["usage"]["output_tokens_details"] == {"reasoning_tokens": 0}
    second = parse(post(up).content)
    assert second[0]["response"]["id"] != evs[0]["response"]["id"]  # fresh ids per request
    assert "sent_at" not in second[4]


def test_cut_is_a_transport_error_after_the_frames(up):
    up.enqueue(events([{"type": "a"}, {"type": "b"}], delay=0.01, end="cut"))
    got = b""
    with pytest.raises(httpx.TransportError):
        with httpx.stream("POST", f"{up.base_url}/responses", json={}) as r:
            for part in r.iter_raw():
                got += part
    assert [e["type"] for e in parse(got)] == ["a", "b"]


def test_stall_sends_nothing_and_close_is_prompt():
    up = FakeUpstream().start()
    up.enqueue(events([{"type": "a"}], end="stall"), events([{"type": "b"}], end="stall"))
    with httpx.stream("POST", f"{up.base_url}/responses", json={}, timeout=0.3) as r:
        chunks = r.iter_raw()
        assert parse(next(chunks))[0]["type"] == "a"
        with pytest.raises(httpx.ReadTimeout):
            next(chunks)
    # A second stalled client stays connected while the server closes.
    with httpx.stream("POST", f"{up.base_url}/responses", json={}, timeout=5) as r:
        chunks = r.iter_raw()
        assert parse(next(chunks))[0]["type"] == "b"
        t0 = time.monotonic()
        up.close()
        assert time.monotonic() - t0 < 2
        with pytest.raises(httpx.TransportError):
            next(chunks)


def test_delay_spreads_frames(up):
    n, delay = 5, 0.08
    up.enqueue(events([{"type": str(i)} for i in range(n)], delay=delay))
    t0 = time.monotonic()
    assert len(parse(post(up).content)) == n
    assert time.monotonic() - t0 >= delay * (n - 1) * 0.9


async def test_delayed_streams_do_not_block_each_other():
    n = 100
    with FakeUpstream(default=text_stream("twelve chars", delay=0.05)) as up:  # 11 frames, >= 0.5 s
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(base_url=up.base_url, limits=limits, timeout=10) as client:
            t0 = time.monotonic()
            rs = await asyncio.gather(*(client.post("/responses", json={}) for _ in range(n)))
            elapsed = time.monotonic() - t0
        assert all(parse(r.content)[-1]["type"] == "response.completed" for r in rs)
        assert 0.45 <= elapsed < 3, elapsed  # sequential would take 100 s


def test_cli_serves_fixture_until_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_upstream", "--port", "0",
         "--fixture", "raw_sse/llamacpp_smollm2_responses.sse", "--delay", "0.001"],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        timer = threading.Timer(10, proc.kill)  # never hang the suite on a broken CLI
        timer.start()
        base_url = proc.stdout.readline().strip()
        timer.cancel()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        for _ in range(2):  # repeated for every request
            body = httpx.post(f"{base_url}/responses", json={}).content
            assert (
                body == (FIXTURES_DIR / "raw_sse" / "llamacpp_smollm2_responses.sse").read_bytes()
            )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
