"""Sending a stream request over the bare reader (chat.upstream.bare.open_stream and _send,
issue 13's mutation pass): our exact words and log lines for each failure, how long an error
answer's body is waited for, and kept connections the server dropped while we sent."""

import asyncio
import logging

import pytest

from chat.upstream import bare, errors, wire
from chat.upstream.errors import UpstreamError
from chat.upstream.pool import close_pool, pool_for
from tests import raw_http as raw
from tests.raw_http import RawServer

pytestmark = pytest.mark.timeout(30)
KEY = "configured-key-123456"


async def open_once(server: RawServer, deadline_in: float = 5.0, key: str = KEY):
    loop = asyncio.get_running_loop()
    return await bare.open_stream("POST", server.url() + "/responses", b"{}", {},
                                  connect_timeout=1, max_connections=4, api_key=key,
                                  deadline=loop.time() + deadline_in)  # fmt: skip


def logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chat.upstream.client"]


@pytest.fixture
async def server():
    async with RawServer() as s:
        yield s
    close_pool(asyncio.get_running_loop())


async def test_no_head_in_time_is_a_first_event_timeout_in_our_words(server):
    async def silent(writer, request):
        await asyncio.sleep(5)
        return False

    server.script(silent)
    with pytest.raises(UpstreamError) as caught:
        await open_once(server, deadline_in=0.3)
    assert caught.value.kind == errors.FIRST_EVENT_TIMEOUT
    assert caught.value.message == "The model server did not answer in time."


async def test_an_oversized_head_is_logged_and_described(server, caplog):
    big = "x-junk: " + "a" * (wire.MAX_HEAD + 10)
    server.script(raw.reply(raw.head("200 OK", big)))
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        with pytest.raises(UpstreamError) as caught:
            await open_once(server)
    assert caught.value.message == "The model server's answer had oversized headers."
    assert logged(caplog) == ["upstream answer's head is over the size we read"]


async def test_bytes_that_are_not_http_are_logged_exactly(server, caplog):
    server.script(raw.reply(b"HTTP/1.1 101 Switching\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n"))
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        with pytest.raises(UpstreamError):
            await open_once(server)
    assert logged(caplog) == ["upstream unreachable: the server switched protocols"]


async def test_an_error_body_after_the_first_event_deadline_is_still_read(server):
    envelope = b'{"error": {"code": "server_is_overloaded"}}'

    async def slow_body(writer, request):
        writer.write(b"HTTP/1.1 503 Busy\r\ncontent-length: %d\r\n\r\n" % len(envelope))
        await writer.drain()
        await asyncio.sleep(0.6)  # past the request's own deadline, within the 5 s after
        writer.write(envelope)
        return True

    server.script(slow_body)
    with pytest.raises(UpstreamError) as caught:
        await open_once(server, deadline_in=0.3)
    assert (caught.value.status, caught.value.code) == (503, "server_is_overloaded")


async def test_a_stalled_error_body_is_waited_for_five_seconds(server):
    async def stall(writer, request):
        writer.write(b'HTTP/1.1 500 Oops\r\ncontent-length: 100\r\n\r\n{"err')
        await asyncio.sleep(20)
        return False

    server.script(stall)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(UpstreamError) as caught:
        await asyncio.wait_for(open_once(server, deadline_in=0.1), 10)
    assert caught.value.status == 500
    assert 4.5 < loop.time() - started < 5.8


async def test_the_configured_key_is_redacted_from_the_log(server, caplog):
    body = b'{"error": {"message": "bad key %s"}}' % KEY.encode()
    server.script(raw.reply(b"HTTP/1.1 401 No\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)))
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        with pytest.raises(UpstreamError):
            await open_once(server)
    assert logged(caplog) == ["upstream HTTP 401 -: bad key [redacted]"]


async def test_two_kept_connections_dropped_as_we_send_are_a_connect_error(server):
    async def drop(writer, request):
        return False  # reads the request, closes without a word

    async def ok(writer, request):
        return await raw.chunked_answer("x")(writer, request)

    server.script(ok, ok)
    first = await open_once(server)
    second = await open_once(server)  # two connections in use at once
    for response in (first, second):
        while await response.wire.read():
            pass
        await response.aclose()
    assert pool_for(asyncio.get_running_loop(), 4).idle_count() == 2
    server.script(drop, drop, ok)
    with pytest.raises(UpstreamError) as caught:
        await open_once(server)
    assert caught.value.kind == errors.CONNECT  # ours, not an internal error
    assert len(server.requests) == 4


async def test_a_stream_cancelled_before_its_head_gives_its_place_back(server):
    async def silent(writer, request):
        await asyncio.sleep(5)
        return False

    server.script(silent)
    opening = asyncio.ensure_future(open_once(server))
    await asyncio.sleep(0.2)
    opening.cancel()  # Stop pressed while the server has not answered
    with pytest.raises(asyncio.CancelledError):
        await opening
    pool = pool_for(asyncio.get_running_loop(), 4)
    assert (pool.open, pool.idle_count()) == (0, 0)


async def test_a_connect_that_hangs_is_described_in_our_words(monkeypatch):
    loop = asyncio.get_running_loop()

    async def blackhole(*args, **kwargs):
        await asyncio.sleep(30)  # a SYN nobody answers (no loopback address does that)

    monkeypatch.setattr(loop, "create_connection", blackhole)
    with pytest.raises(UpstreamError) as caught:
        await bare.open_stream("GET", "http://10.9.9.9/v1", None, {}, connect_timeout=0.2,
                               max_connections=4, api_key=KEY, deadline=loop.time() + 5)  # fmt: skip
    assert caught.value.kind == errors.CONNECT_TIMEOUT
    assert caught.value.message == "Connecting to the model server timed out."
    close_pool(loop)


async def test_a_connect_error_without_words_is_logged_by_its_type(monkeypatch, caplog):
    loop = asyncio.get_running_loop()

    async def refuse(*args, **kwargs):
        raise ConnectionRefusedError()

    monkeypatch.setattr(loop, "create_connection", refuse)
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        with pytest.raises(UpstreamError) as caught:
            await bare.open_stream("GET", "http://10.9.9.9/v1", None, {}, connect_timeout=1,
                                   max_connections=4, api_key=KEY, deadline=loop.time() + 5)  # fmt: skip
    assert caught.value.kind == errors.CONNECT
    assert logged(caplog) == ["upstream unreachable: ConnectionRefusedError"]
    close_pool(loop)
