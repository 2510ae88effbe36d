"""The upstream read loop's exact rules (chat.upstream.client._read_events), on httpx's
MockTransport so each case controls the chunks: what is skipped, how a broken stream is told,
how big chunks are framed, and that yielding to the loop keeps the idle deadline."""

import asyncio
import logging
import time

import httpx
import orjson
import pytest

from chat.upstream import client as upstream
from chat.upstream import errors
from chat.upstream.client import UpstreamConfig, stream_response
from chat.upstream.errors import UpstreamError
from chat.upstream.sse import SSEFramer

pytestmark = pytest.mark.timeout(30)

KEY = "sk-secret0123456789"
DELTA = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0}
COMPLETED = {"type": "response.completed", "response": {"status": "completed"}}


def sse(*events: dict) -> bytes:
    return b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in events)


def deltas(n: int) -> list[dict]:
    return [{**DELTA, "delta": "x", "sequence_number": i} for i in range(n)]


class Chunks(httpx.AsyncByteStream):
    """The body in these chunks, then the end, a stall or a broken connection."""

    def __init__(self, chunks: list[bytes], end: str = "close", error: str = "reset") -> None:
        self.chunks, self.end, self.error = chunks, end, error

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk
        if self.end == "stall":
            await asyncio.sleep(30)
        elif self.end == "break":
            raise httpx.ReadError(self.error)


def serving(stream: Chunks, content_type: str = "text/event-stream") -> httpx.AsyncClient:
    def handler(request):
        return httpx.Response(200, headers={"content-type": content_type}, stream=stream)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def config(**overrides) -> UpstreamConfig:
    options = dict(base_url="http://h/v1", api_key=KEY, max_retries=0)
    return UpstreamConfig(**{**options, **overrides})


async def read(client: httpx.AsyncClient, cfg: UpstreamConfig | None = None) -> list[str]:
    async with client:
        events = stream_response({"model": "m"}, config=cfg or config(), client=client)
        return [event.type async for event in events]


async def failure(client: httpx.AsyncClient, cfg: UpstreamConfig | None = None) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await asyncio.wait_for(read(client, cfg), 10)  # a read no deadline ends fails here
    return caught.value


async def test_empty_data_and_done_sentinels_are_skipped_and_what_follows_is_read():
    chunk = b"data: \n\n" + b"data: [DONE]\n\n" + sse(DELTA, COMPLETED)
    types = await read(serving(Chunks([chunk])))
    assert types == [DELTA["type"], COMPLETED["type"]]


async def test_a_stream_that_ends_before_a_terminal_event_is_a_cut():
    err = await failure(serving(Chunks([sse(DELTA)])))
    assert (err.kind, err.message) == (
        errors.STREAM_CUT,
        "The model server ended the stream before the answer was finished.",
    )


async def test_a_broken_stream_is_a_cut_logged_redacted(caplog):
    stream = Chunks([sse(DELTA)], end="break", error=f"reset near {KEY}")
    with caplog.at_level(logging.WARNING, logger=upstream.__name__):
        err = await failure(serving(stream))
    assert (err.kind, err.message) == (
        errors.STREAM_CUT,
        "The connection to the model server broke.",
    )
    assert caplog.messages == ["upstream stream broke: reset near [redacted]"]


async def test_what_a_server_sent_instead_of_events_is_clipped_in_the_message():
    content_type = "application/" + "x" * 300
    err = await failure(serving(Chunks([b"{}"]), content_type=content_type))
    said = f"expected text/event-stream, got {content_type!r}"[:200]
    assert (err.kind, err.message) == (
        errors.PROTOCOL,
        f"The model server did not send an event stream ({said}).",
    )


class RecordingFramer(SSEFramer):
    fed: list[int] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        self.fed.append(len(chunk))
        return super().feed(chunk)


async def test_a_huge_chunk_is_framed_a_bounded_piece_at_a_time(monkeypatch):
    monkeypatch.setattr(upstream, "SSEFramer", RecordingFramer)
    monkeypatch.setattr(RecordingFramer, "fed", [])
    body = sse(*deltas(2000), COMPLETED)
    assert len(body) > 2 * upstream.MAX_FEED
    types = await read(serving(Chunks([body])))
    assert types.count(DELTA["type"]) == 2000 and types[-1] == COMPLETED["type"]
    whole, rest = divmod(len(body), upstream.MAX_FEED)
    assert RecordingFramer.fed == [upstream.MAX_FEED] * whole + [rest]


async def test_a_chunk_of_exactly_the_bound_is_framed_whole(monkeypatch):
    monkeypatch.setattr(upstream, "SSEFramer", RecordingFramer)
    monkeypatch.setattr(RecordingFramer, "fed", [])
    end = sse(COMPLETED)
    pad = b": " + b"p" * (upstream.MAX_FEED - len(end) - 4) + b"\n\n"
    assert await read(serving(Chunks([pad + end]))) == [COMPLETED["type"]]
    assert RecordingFramer.fed == [upstream.MAX_FEED]


async def test_buffered_events_yield_to_the_loop_every_sixty_four():
    runs: list[int] = []
    count = 0
    reading = True

    async def ticker() -> None:
        last = 0
        while reading:
            runs.append(count - last)
            last = count
            await asyncio.sleep(0)

    client = serving(Chunks([sse(*deltas(64 * 3 + 10), COMPLETED)]))
    task = asyncio.create_task(ticker())
    try:
        async with client:
            async for _ in stream_response({"model": "m"}, config=config(), client=client):
                count += 1
    finally:
        reading = False
        await task
    assert count == 64 * 3 + 11
    assert max(runs) == upstream.YIELD_EVERY
    assert runs.count(upstream.YIELD_EVERY) >= 2  # every 64, not only once
    # One pass of the loop each time, not a pause: a sleeping reader lets the ticker spin.
    assert len(runs) <= 10, runs[:20]


async def test_a_stall_after_a_yield_is_still_an_idle_timeout():
    """The loop's turn given after 64 events counts as activity, not as no event yet."""
    stream = Chunks([sse(*deltas(upstream.YIELD_EVERY))], end="stall")
    cfg = config(first_event_timeout=5.0, idle_timeout=0.3)
    started = time.monotonic()
    err = await failure(serving(stream), cfg)
    assert err.kind == errors.IDLE_TIMEOUT
    assert time.monotonic() - started < 2.5
