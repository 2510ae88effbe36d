"""The upstream client against a real loopback HTTP server: recordings and faults."""

import asyncio
import time

import pytest

from chat.turns.state import TurnState
from chat.upstream import errors
from chat.upstream.client import UpstreamConfig, close_shared_client, stream_response
from chat.upstream.errors import UpstreamError
from tests import fake_upstream as fake
from tests.fixtures import JSONL, NOT_RESPONSES, RAW_SSE, expected

BODY = {"model": "m", "input": [{"role": "user", "content": "hi"}]}
QUOTA = {"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}}
SERVER_ERROR = {"error": {"message": "oops", "type": "server_error", "code": None}}


@pytest.fixture
def server():
    with fake.FakeUpstream() as upstream:
        yield upstream


def config(server, **overrides) -> UpstreamConfig:
    options = dict(
        base_url=server.base_url,
        api_key="k",
        connect_timeout=1.0,
        first_event_timeout=3.0,
        idle_timeout=3.0,
        max_retries=2,
        max_retry_wait=1.0,
    )
    return UpstreamConfig(**{**options, **overrides})


async def collect(cfg: UpstreamConfig, client=None) -> TurnState:
    state = TurnState()
    try:
        async for event in stream_response(BODY, config=cfg, client=client):
            state.apply(event)
    finally:
        await close_shared_client()
    return state


async def failure(cfg: UpstreamConfig) -> tuple[UpstreamError, TurnState]:
    state = TurnState()
    with pytest.raises(UpstreamError) as caught:
        try:
            async for event in stream_response(BODY, config=cfg):
                state.apply(event)
        finally:
            await close_shared_client()
    return caught.value, state


@pytest.mark.parametrize("name", [n for n in RAW_SSE if n not in NOT_RESPONSES])
async def test_raw_sse_recording_byte_for_byte(server, name):
    server.enqueue(fake.sse_file(name))
    state = await collect(config(server))
    truth = expected(name)
    assert (state.status, state.text, state.error_code) == (
        truth.status,
        truth.text,
        truth.error_code,
    )
    assert state.response_id == truth.response_id


@pytest.mark.parametrize("name", JSONL)
@pytest.mark.parametrize("event_lines", [True, False], ids=["event-lines", "data-only"])
async def test_jsonl_recording_as_sse(server, name, event_lines):
    server.enqueue(fake.jsonl_file(name, event_lines=event_lines, done_sentinel=not event_lines))
    state = await collect(config(server))
    truth = expected(name)
    assert (state.status, state.text, state.error_code) == (
        truth.status,
        truth.text,
        truth.error_code,
    )
    if truth.usage:
        assert state.usage.total_tokens == truth.usage["total_tokens"]


async def test_request_carries_stream_flag_and_bearer_key(server):
    server.enqueue(fake.jsonl_file("gpt5_moderation_stream.jsonl"))
    await collect(config(server))
    request = server.requests[-1]
    assert request["json"]["stream"] is True
    assert request["json"]["input"] == BODY["input"]
    assert request["headers"]["authorization"] == "Bearer k"


async def test_chat_completions_stream_is_a_clear_failure(server):
    server.enqueue(fake.sse_file("llamacpp_smollm2_chat_completions.sse"))
    err, _ = await failure(config(server, max_retries=0))
    assert err.kind == errors.STREAM_CUT


async def test_connection_refused(server):
    port = server.port
    server.close()
    cfg = UpstreamConfig(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, max_retry_wait=0.1)
    started = time.monotonic()
    err, _ = await failure(cfg)
    assert err.kind == errors.CONNECT
    assert "Could not reach" in err.message
    assert time.monotonic() - started < 3


async def test_401_is_not_retried(server):
    server.enqueue(
        fake.http_error(
            401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
        )
    )
    server.enqueue(fake.jsonl_file("gpt5_moderation_stream.jsonl"))
    err, _ = await failure(config(server))
    assert (err.status, err.code) == (401, "invalid_api_key")
    assert err.message == errors.BY_CODE["invalid_api_key"]  # our words, not the body's
    assert len([r for r in server.requests if r["method"] == "POST"]) == 1


async def test_429_with_retry_after_then_success(server):
    server.enqueue(
        fake.http_error(
            429,
            {"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
            headers={"retry-after": "0.2"},
        )
    )
    server.enqueue(fake.jsonl_file("gpt5_moderation_stream.jsonl"))
    started = time.monotonic()
    state = await collect(config(server))
    assert state.text == "Paris."
    assert time.monotonic() - started >= 0.2  # it waited as told
    assert len([r for r in server.requests if r["method"] == "POST"]) == 2


async def test_429_retry_after_longer_than_we_wait_is_reported(server):
    server.enqueue(
        fake.http_error(
            429,
            {"error": {"message": "later", "code": "rate_limit_exceeded"}},
            headers={"retry-after": "30"},
        )
    )
    err, _ = await failure(config(server))
    assert (err.status, err.retry_after) == (429, 30.0)


async def test_insufficient_quota_429_is_not_retried(server):
    server.enqueue(fake.http_error(429, QUOTA, headers={"retry-after": "0"}))
    err, _ = await failure(config(server))
    assert err.code == "insufficient_quota"
    assert len([r for r in server.requests if r["method"] == "POST"]) == 1


async def test_500_then_success(server):
    server.enqueue(fake.http_error(500, SERVER_ERROR, headers={"retry-after-ms": "10"}))
    server.enqueue(fake.sse_file("gpt5_function_call_stream.sse"))
    state = await collect(config(server))
    assert state.status == "completed"
    assert state.items[-1].name == "get_weather"


async def test_retries_are_bounded(server):
    for _ in range(3):
        server.enqueue(fake.http_error(503, "overloaded", headers={"retry-after": "0"}))
    err, _ = await failure(config(server, max_retries=2))
    assert err.status == 503
    assert err.message == errors.BY_STATUS[503]
    assert len([r for r in server.requests if r["method"] == "POST"]) == 3


async def test_stall_mid_stream_hits_the_idle_timeout_and_is_not_retried(server):
    frames = [
        {
            "type": "response.created",
            "sequence_number": 0,
            "response": {"id": "r1", "status": "in_progress"},
        },
        {"type": "response.output_text.delta", "sequence_number": 1, "delta": "half an ans"},
    ]
    server.enqueue(fake.events(frames, end="stall"))
    err, state = await failure(config(server, idle_timeout=0.3))
    assert err.kind == errors.IDLE_TIMEOUT
    assert state.text == "half an ans"  # what arrived is kept
    assert len([r for r in server.requests if r["method"] == "POST"]) == 1


async def test_no_first_event_hits_the_first_event_timeout(server):
    server.enqueue(fake.events([], end="stall"))
    err, _ = await failure(config(server, first_event_timeout=0.3, max_retries=0))
    assert err.kind == errors.FIRST_EVENT_TIMEOUT


async def test_stream_cut_without_terminal_event(server):
    frames = [{"type": "response.output_text.delta", "delta": "abc"}]
    server.enqueue(fake.events(frames, end="cut"))
    err, state = await failure(config(server))
    assert err.kind == errors.STREAM_CUT
    assert state.text == "abc"


async def test_stream_closed_cleanly_but_early_is_a_cut(server):
    server.enqueue(fake.events([{"type": "response.output_text.delta", "delta": "abc"}]))
    err, _ = await failure(config(server))
    assert err.kind == errors.STREAM_CUT


async def test_malformed_json_line_is_skipped_and_reported(server):
    frames = [
        {"type": "response.output_text.delta", "delta": "a"},
        "data: {not json\n\n",
        {"type": "response.output_text.delta", "delta": "b"},
        {
            "type": "response.completed",
            "response": {
                "status": "completed",
                "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
            },
        },
    ]
    server.enqueue(fake.events(frames))
    state = await collect(config(server))
    assert state.status == "completed"
    assert state.text == "ab"
    assert "malformed" in state.warnings[0]


async def test_comments_multiline_data_and_done_sentinel(server):
    frames = [
        ": keep-alive\n\n",
        'data: {"type":"response.output_text.delta",\ndata: "delta":"multi"}\n\n',
        {"type": "response.completed", "response": {"status": "completed"}},
        "data: [DONE]\n\n",
    ]
    server.enqueue(fake.events(frames))
    state = await collect(config(server))
    assert (state.status, state.text) == ("completed", "multi")


async def test_nested_error_frame_then_response_failed(server):
    server.enqueue(fake.sse_file("gpt5_error_insufficient_quota_stream.sse"))
    state = await collect(config(server))
    assert state.status == "failed"
    assert state.error_code == "insufficient_quota"


async def test_llamacpp_error_then_close_is_not_a_cut(server):
    frames = [
        {"type": "response.output_text.delta", "delta": "a"},
        'data: {"error":{"code":500,"message":"context full"}}\n\n',
    ]
    server.enqueue(fake.events(frames))
    state = await collect(config(server))
    assert state.error_message == errors.BY_STATUS[500]
    assert state.error_detail == "context full"  # the server's words: for the log only


async def consuming(cfg: UpstreamConfig) -> asyncio.Task:
    """A task reading a stream, returned once its first event has arrived."""
    received = asyncio.Event()

    async def consume():
        async for _ in stream_response(BODY, config=cfg):
            received.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(received.wait(), 3)
    return task


async def test_cancelling_closes_the_connection_at_once(server):
    server.enqueue(fake.text_stream("x" * 400, chunk=4, delay=0.05))
    task = await consuming(config(server))
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.5
    await close_shared_client()


# --- the read path: one watchdog per stream; on httpx, straight from aiohttp, httpx as the fallback ---

DELTA_FRAMES = [
    {"type": "response.created", "sequence_number": 0, "response": {"id": "r1"}},
    *({"type": "response.output_text.delta", "sequence_number": i, "delta": "ab"} for i in (1, 2)),
    {"type": "response.completed", "sequence_number": 3, "response": {"status": "completed"}},
]


async def test_chunks_come_straight_from_aiohttp(server, monkeypatch):
    """On the httpx path (a client passed in, or a proxy configured: see test_upstream_bare)."""
    from chat.upstream import body
    from chat.upstream.client import shared_client

    readers = []
    original = body._aiohttp_reader
    monkeypatch.setattr(
        body, "_aiohttp_reader", lambda r: readers.append(original(r)) or readers[-1]
    )
    server.enqueue(fake.jsonl_file("gpt5_moderation_stream.jsonl"))
    cfg = config(server)
    state = await collect(cfg, client=shared_client(cfg))
    assert state.text == "Paris."
    # None would mean httpx or httpx-aiohttp renamed what body.py reaches for: the slow path.
    assert readers and readers[0] is not None


async def test_gzip_stream_is_read(server):
    """Compressed though we asked for identity: the bare reader inflates it (bare.WireBody)."""
    import gzip

    raw = (fake.FIXTURES_DIR / "raw_sse" / "gpt5_function_call_stream.sse").read_bytes()
    server.enqueue(
        fake.Reply(
            "stream", headers={"content-encoding": "gzip"}, frames=lambda: [gzip.compress(raw)]
        )
    )
    state = await collect(config(server))
    assert state.status == "completed"
    assert state.items[-1].name == "get_weather"


async def test_events_spread_over_more_than_the_idle_timeout_are_fine(server):
    server.enqueue(fake.events(DELTA_FRAMES, delay=0.15))
    state = await collect(config(server, idle_timeout=0.25))
    assert (state.status, state.text) == ("completed", "abab")


async def test_idle_deadline_starts_at_the_first_event_not_the_first_event_deadline(server):
    server.enqueue(fake.events(DELTA_FRAMES[:2], end="stall"))
    started = time.monotonic()
    err, state = await failure(config(server, first_event_timeout=5.0, idle_timeout=0.3))
    assert err.kind == errors.IDLE_TIMEOUT
    assert err.message == "The model server stopped sending for 0.3 s."
    assert 0.25 < time.monotonic() - started < 2.0
    assert state.text == "ab"


async def test_stop_during_a_stall_is_a_cancellation_not_a_timeout(server):
    server.enqueue(fake.events(DELTA_FRAMES[:2], end="stall"))
    task = await consuming(config(server, idle_timeout=0.3))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.4)  # past the idle deadline: the watchdog is gone with the stream
    await close_shared_client()


def mock_client(chunks, *, stall: bool = False, content_type: str = "text/event-stream"):
    """An httpx client on httpx's MockTransport: the read path without aiohttp underneath."""
    import httpx

    async def body():
        for chunk in chunks:
            yield chunk
        if stall:
            await asyncio.sleep(30)

    def handler(request):
        return httpx.Response(200, headers={"content-type": content_type}, content=body())

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def mock_failure(client, cfg) -> tuple[UpstreamError, TurnState]:
    state = TurnState()
    with pytest.raises(UpstreamError) as caught:
        async with client:
            async for event in stream_response(BODY, config=cfg, client=client):
                state.apply(event)
    return caught.value, state


async def test_httpx_fallback_reads_a_stream(server):
    body = fake.events(DELTA_FRAMES).frames()
    client = mock_client([b"".join(body)[i : i + 7] for i in range(0, len(b"".join(body)), 7)])
    state = TurnState()
    async with client:
        async for event in stream_response(BODY, config=config(server), client=client):
            state.apply(event)
    assert (state.status, state.text) == ("completed", "abab")


async def test_httpx_fallback_timeouts(server):
    client = mock_client([], stall=True)
    err, _ = await mock_failure(client, config(server, first_event_timeout=0.2, max_retries=0))
    assert err.kind == errors.FIRST_EVENT_TIMEOUT
    client = mock_client(fake.events(DELTA_FRAMES[:2]).frames(), stall=True)
    err, state = await mock_failure(client, config(server, idle_timeout=0.2))
    assert (err.kind, state.text) == (errors.IDLE_TIMEOUT, "ab")


async def test_not_an_event_stream(server):
    client = mock_client([b'{"ok": true}'], content_type="application/json")
    err, _ = await mock_failure(client, config(server, max_retries=0))
    assert err.kind == errors.PROTOCOL
    assert "expected text/event-stream, got 'application/json'" in err.message


async def test_the_request_body_is_let_go_once_an_event_arrived(server):
    """Kept for a retry before the first event, not for the rest of a long stream."""
    server.enqueue(fake.sse_file(RAW_SSE[0]))
    events = stream_response(BODY, config=config(server))
    try:
        await anext(events)
        assert events.ag_frame.f_locals["content"] is None
    finally:
        await events.aclose()
        await close_shared_client()
