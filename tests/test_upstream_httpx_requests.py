"""The httpx path of the upstream client (a client passed in, or a proxy configured), exactly:
the request it sends, how a non-200 answer becomes an UpstreamError (read only up to its
bound, and not forever), and which words a failed send ends in. On httpx's MockTransport, so
each case says what the server does without a socket."""

import asyncio
import logging
import time

import httpx
import orjson
import pytest

from chat.upstream import client as upstream
from chat.upstream import errors
from chat.upstream.answers import MAX_ERROR_BODY
from chat.upstream.client import (
    UpstreamConfig,
    close_shared_client,
    resume_stream,
    stream_response,
)
from chat.upstream.errors import UpstreamError
from tests import fake_upstream as fake

pytestmark = pytest.mark.timeout(30)

BASE = "http://upstream.test/v1"
KEY = "sk-secret0123456789"
COMPLETED_EVENT = {"type": "response.completed", "response": {"status": "completed"}}
COMPLETED = b"data: " + orjson.dumps(COMPLETED_EVENT) + b"\n\n"


def config(**overrides) -> UpstreamConfig:
    options = dict(
        base_url=BASE,
        api_key=KEY,
        connect_timeout=1.5,
        first_event_timeout=3.0,
        idle_timeout=3.0,
        max_retries=0,
    )
    return UpstreamConfig(**{**options, **overrides})


def on(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def completed(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=COMPLETED)


async def drain(events) -> list[str]:
    return [event.type async for event in events]


async def failure(handler, **overrides) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        async with on(handler) as client:
            await drain(stream_response({"model": "m"}, config=config(**overrides), client=client))
    return caught.value


# --- the request ---


async def test_a_stream_request_posts_json_with_its_headers_and_timeouts():
    seen: list[httpx.Request] = []
    async with on(lambda r: seen.append(r) or completed(r)) as client:
        events = stream_response({"model": "m"}, config=config(), client=client)
        assert await drain(events) == ["response.completed"]
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/responses")
    assert request.content == b'{"model":"m","stream":true}'
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["cache-control"] == "no-store"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    # Connecting (and writing) is bounded; reading is the watchdog's; waiting for a pooled
    # connection ends with the first-event deadline.
    timeout = {"connect": 1.5, "read": None, "write": 1.5, "pool": 3.0}
    assert request.extensions["timeout"] == timeout


@pytest.mark.parametrize(
    ("starting_after", "query"), [(None, "stream=true"), (0, "stream=true&starting_after=0")]
)
async def test_a_resume_gets_the_stream_without_a_body(starting_after, query):
    seen: list[httpx.Request] = []
    async with on(lambda r: seen.append(r) or completed(r)) as client:
        events = resume_stream(
            "resp_1", starting_after=starting_after, config=config(), client=client
        )
        assert await drain(events) == ["response.completed"]
    (request,) = seen
    assert (request.method, str(request.url)) == ("GET", f"{BASE}/responses/resp_1?{query}")
    assert request.content == b""
    assert "content-type" not in request.headers
    assert request.headers["authorization"] == f"Bearer {KEY}"


async def test_the_bare_path_sends_the_same_headers():
    with fake.FakeUpstream() as server:
        server.enqueue(fake.events([COMPLETED_EVENT]), fake.events([COMPLETED_EVENT]))
        cfg = config(base_url=server.base_url)
        try:
            assert await drain(stream_response({"model": "m"}, config=cfg)) == [
                COMPLETED_EVENT["type"]
            ]
            resumed = resume_stream("resp_1", starting_after=None, config=cfg)
            assert await drain(resumed) == [COMPLETED_EVENT["type"]]
        finally:
            await close_shared_client()
    post, get = (request["headers"] for request in server.requests)
    assert (post["content-type"], post["accept"], post["cache-control"]) == (
        "application/json",
        "text/event-stream",
        "no-store",
    )
    assert post["authorization"] == get["authorization"] == f"Bearer {KEY}"
    assert "content-type" not in get


def test_without_a_key_no_authorization_is_sent():
    assert UpstreamConfig(BASE).headers() == {
        "Accept": "text/event-stream",
        "Cache-Control": "no-store",
    }


# --- a non-200 answer ---


async def test_an_error_answer_is_read_for_its_code_status_and_retry_after(caplog):
    def refuse(request):
        body = b'{"error": {"message": "slow down, %s", "code": "rate_limit_exceeded"}}' % (
            KEY.encode()
        )
        return httpx.Response(429, headers={"retry-after": "7"}, content=body)

    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        err = await failure(refuse)
    assert (err.kind, err.status, err.code, err.retry_after) == (
        errors.HTTP,
        429,
        "rate_limit_exceeded",
        7.0,
    )
    # The configured key is the one redacted: the body's text goes to the log only.
    assert caplog.messages == ["upstream HTTP 429 rate_limit_exceeded: slow down, [redacted]"]


async def test_an_empty_error_answer_is_logged_with_its_reason(caplog):
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        err = await failure(lambda r: httpx.Response(502))
    assert (err.kind, err.status) == (errors.HTTP, 502)
    assert caplog.messages == ["upstream HTTP 502 -: Bad Gateway"]


class Chunks(httpx.AsyncByteStream):
    """A body in the given chunks, counting how many were taken; then a stall or an error."""

    def __init__(self, chunks: list[bytes], end: str = "close") -> None:
        self.chunks, self.end, self.taken, self.closed = chunks, end, 0, False

    async def __aiter__(self):
        for chunk in self.chunks:
            self.taken += 1
            yield chunk
        if self.end == "stall":
            await asyncio.sleep(30)
        elif self.end == "break":
            raise httpx.ReadError("connection reset")

    async def aclose(self) -> None:
        self.closed = True


def answer(status: int, stream: Chunks) -> httpx.Response:
    return httpx.Response(status, stream=stream)


@pytest.mark.parametrize("extra", [0, 1])
async def test_an_error_body_is_read_up_to_its_bound_and_no_further(extra):
    half = MAX_ERROR_BODY // 2
    stream = Chunks([b"a" * half, b"b" * (half + extra), b"c" * 10, b"d"])
    raw = await upstream._read_some(answer(500, stream), MAX_ERROR_BODY)
    assert raw == b"a" * half + b"b" * half
    assert stream.taken == 2  # the chunk that reached the bound was the last one read


async def test_a_short_error_body_is_read_whole():
    stream = Chunks([b"ab", b"", b"cd"])
    assert await upstream._read_some(answer(500, stream), 5) == b"abcd"
    assert await upstream._read_some(answer(500, Chunks([b"abcd"])), 4) == b"abcd"
    one_short = Chunks([b"abcd", b"e", b"f"])  # a byte short of the bound: one more read
    assert await upstream._read_some(answer(500, one_short), 5) == b"abcde"
    assert one_short.taken == 2


async def test_an_error_answer_is_closed_once_read():
    stream = Chunks([b'{"error": {"code": "server_error"}}'])
    err = await failure(lambda r: answer(500, stream))
    assert (err.status, err.code, stream.closed) == (500, "server_error", True)


async def test_an_error_body_that_breaks_still_gives_the_status(caplog):
    stream = Chunks([b'{"error": {"code": "server_'], end="break")
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        err = await failure(lambda r: answer(503, stream), api_key="")
    assert (err.kind, err.status, err.code) == (errors.HTTP, 503, None)
    assert caplog.messages == ["upstream HTTP 503 -: Service Unavailable"]


@pytest.mark.timeout(20)
async def test_a_stalled_error_body_is_waited_for_five_seconds_past_the_first_deadline():
    """Even when the first-event deadline is sooner: a slow error page still gets read."""
    stream = Chunks([b'{"error": {"code": "server_error"}}'], end="stall")
    started = time.monotonic()
    err = await failure(lambda r: answer(500, stream), first_event_timeout=0.2)
    assert (err.status, err.code) == (500, None)  # the body never ended, so it was not used
    assert 4.5 < time.monotonic() - started < 5.8


# --- a send that fails ---


async def test_no_answer_before_the_first_event_deadline_is_a_first_event_timeout():
    async def silent(request):
        await asyncio.sleep(30)

    started = time.monotonic()
    err = await failure(silent, first_event_timeout=0.2)
    assert (err.kind, err.message) == (
        errors.FIRST_EVENT_TIMEOUT,
        "The model server did not answer in time.",
    )
    assert time.monotonic() - started < 2


def raising(exc: Exception):
    def handler(request):
        raise exc

    return handler


async def test_a_connect_that_times_out_is_a_connect_timeout(caplog):
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        err = await failure(raising(httpx.ConnectTimeout("timed out")))
    assert (err.kind, err.message) == (
        errors.CONNECT_TIMEOUT,
        "Connecting to the model server timed out.",
    )
    assert caplog.messages == []


async def test_a_refused_connect_is_logged_redacted_and_described_in_our_words(caplog):
    refused = httpx.ConnectError(f"refused for {KEY}")
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        err = await failure(raising(refused))
    assert (err.kind, err.message) == (errors.CONNECT, "Could not reach the model server.")
    assert caplog.messages == ["upstream unreachable: refused for [redacted]"]


# --- retries before the first event ---


def failing_then_streaming(failures: int, seen: list[httpx.Request], wait_ms: str = "10"):
    def handler(request):
        seen.append(request)
        if len(seen) <= failures:
            return httpx.Response(503, headers={"retry-after-ms": wait_ms})
        return completed(request)

    return handler


async def test_each_retry_is_logged_with_its_number_and_wait(caplog):
    seen: list[httpx.Request] = []
    with caplog.at_level(logging.INFO, logger="chat.upstream.client"):
        async with on(failing_then_streaming(2, seen)) as client:
            events = stream_response({"model": "m"}, config=config(max_retries=2), client=client)
            assert await drain(events) == ["response.completed"]
    assert len(seen) == 3
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    said = errors.BY_STATUS[503]
    assert retries == [
        f"upstream HTTP 503: {said}; retry 1 in 0.01s",
        f"upstream HTTP 503: {said}; retry 2 in 0.01s",
    ]


async def test_retries_stop_after_max_retries():
    seen: list[httpx.Request] = []
    with pytest.raises(UpstreamError) as caught:
        async with on(failing_then_streaming(100, seen, wait_ms="1")) as client:
            events = stream_response({"model": "m"}, config=config(max_retries=2), client=client)
            await asyncio.wait_for(drain(events), 5)  # retrying for ever fails here
    assert (caught.value.status, len(seen)) == (503, 3)


async def test_a_wait_of_exactly_the_longest_allowed_is_waited():
    seen: list[httpx.Request] = []
    cfg = config(max_retries=1, max_retry_wait=0.05)
    async with on(failing_then_streaming(1, seen, wait_ms="50")) as client:
        events = stream_response({"model": "m"}, config=cfg, client=client)
        assert await drain(events) == ["response.completed"]
    assert len(seen) == 2


# --- the configured key, on both paths ---

PLAIN_KEY = "local-secret-42"  # no pattern knows it: only the configured key redacts it
ECHO = {"error": {"message": f"bad key {PLAIN_KEY}"}}


async def test_the_configured_key_is_redacted_from_an_error_body_on_both_paths(caplog):
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        await failure(lambda r: httpx.Response(401, json=ECHO), api_key=PLAIN_KEY)
        with fake.FakeUpstream() as server:
            server.enqueue(fake.http_error(401, ECHO))
            cfg = config(base_url=server.base_url, api_key=PLAIN_KEY)
            with pytest.raises(UpstreamError):
                try:
                    await drain(stream_response({"model": "m"}, config=cfg))
                finally:
                    await close_shared_client()
    assert caplog.messages == ["upstream HTTP 401 -: bad key [redacted]"] * 2
