"""The bare reader's request and the checks on its answer (chat.upstream.bare), exactly
(issue 13's mutation pass): the target and request bytes, which answers are read as an event
stream, compressed bodies, and what a failed connect or a broken error answer leaves."""

import asyncio
import logging
import zlib

import pytest

from chat.upstream import bare, errors
from chat.upstream.answers import MAX_ERROR_BODY
from chat.upstream.body import NotAnEventStream
from chat.upstream.errors import UpstreamError
from chat.upstream.pool import Pool
from chat.upstream.wire import WireError
from tests import raw_http as raw
from tests.raw_http import RawServer
from tests.test_upstream_wire import connected

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("url", "key", "path", "authority"),
    [
        ("http://h/v1/responses", ("http", "h", 80), b"/v1/responses", "h"),
        ("https://h/v1", ("https", "h", 443), b"/v1", "h"),
        ("HTTPS://H:443", ("https", "h", 443), b"/", "h"),
        ("http://h:8080/a?x=1&y=a b", ("http", "h", 8080), b"/a?x=1&y=a%20b", "h:8080"),
        ("https://h:80/", ("https", "h", 80), b"/", "h:80"),
        ("http://[::1]:9/p", ("http", "::1", 9), b"/p", "[::1]:9"),
        ("http://[::1]/p", ("http", "::1", 80), b"/p", "[::1]"),
        ("http://h/r%20x/a b;c", ("http", "h", 80), b"/r%20x/a%20b;c", "h"),
    ],
)
def test_the_target_of_a_url(url, key, path, authority):
    assert bare._target(url) == (key, path, authority)


@pytest.mark.parametrize("url", ["ftp://h/x", "http:///x", "h/x", ""])
def test_an_address_we_cannot_reach_is_a_connect_error(url):
    with pytest.raises(UpstreamError) as caught:
        bare._target(url)
    assert caught.value.kind == errors.CONNECT
    assert caught.value.message == "The model server's address is not valid."


def test_the_request_bytes():
    post = bare._request("POST", b"/v1/r", "h:1", {"Authorization": "Bearer k"}, b'{"a":1}')
    assert post == (
        b"POST /v1/r HTTP/1.1\r\nHost: h:1\r\nAuthorization: Bearer k\r\n"
        b'Accept-Encoding: identity\r\nContent-Length: 7\r\n\r\n{"a":1}'
    )
    get = bare._request("GET", b"/v1/r?stream=true", "h", {}, None)
    assert get == b"GET /v1/r?stream=true HTTP/1.1\r\nHost: h\r\nAccept-Encoding: identity\r\n\r\n"
    empty = bare._request("POST", b"/", "h", {}, b"")
    assert empty.endswith(b"Content-Length: 0\r\n\r\n")


def body_for(*headers: str) -> bare.WireBody:
    wire, _ = connected()
    wire.data_received(("\r\n".join(["HTTP/1.1 200 OK", *headers]) + "\r\n\r\n").encode())
    loop = asyncio.get_running_loop()
    response = bare.WireResponse(Pool(loop, 1), wire)
    return response.body(loop, loop.time() + 5, 5)


async def test_which_answers_are_read_as_an_event_stream():
    for content_type in ("text/event-stream", "text/event-stream; charset=utf-8"):
        await _stop(body_for(f"content-type: {content_type}"))
    for headers, words in [
        (("content-type: application/json",), "got 'application/json'"),
        (("content-type: application/json; x=text/event-stream",), "got 'application/json'"),
        ((), "got 'no content type'"),
    ]:
        with pytest.raises(NotAnEventStream, match=words):
            body_for(*headers)


async def test_which_encodings_are_read():
    sse = "content-type: text/event-stream"
    for encoding in ("gzip", "x-gzip", "deflate", " GZIP "):
        body = body_for(sse, f"content-encoding: {encoding}")
        assert body.read == body._read_inflated
        await _stop(body)
    plain = body_for(sse, "content-encoding: identity")
    assert plain.read == plain._wire.read
    await _stop(plain)
    with pytest.raises(NotAnEventStream, match="content-encoding 'br' is not supported"):
        body_for(sse, "content-encoding: br")
    long_name = "z" * 60  # the server's word, clipped before it reaches a message
    with pytest.raises(NotAnEventStream, match=f"^content-encoding '{'z' * 40}' is not"):
        body_for(sse, f"content-encoding: {long_name}")


async def _stop(body: bare.WireBody) -> None:
    await body.aclose()


async def test_a_deflate_body_and_a_corrupt_one():
    data = zlib.compress(raw.answer("squeezed"))
    body = body_for("content-type: text/event-stream", "content-encoding: deflate",
                    f"content-length: {len(data)}")  # fmt: skip
    body._wire.data_received(data)
    got = b""
    while chunk := await body.read():
        got += chunk
    assert got == raw.answer("squeezed")
    await _stop(body)
    bad = body_for("content-type: text/event-stream", "content-encoding: gzip",
                   "content-length: 12")  # fmt: skip
    bad._wire.data_received(b"not gzip!!!!")
    with pytest.raises(WireError, match="^bad compressed body: "):
        await bad.read()
    await _stop(bad)


async def test_a_refused_connect_is_logged_with_its_reason(caplog):
    from tests.live_server import free_port

    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        with pytest.raises(UpstreamError) as caught:
            await bare.open_stream("GET", f"http://127.0.0.1:{free_port()}/v1", None, {},
                                   connect_timeout=1, max_connections=1, api_key="k",
                                   deadline=loop.time() + 5)  # fmt: skip
    assert caught.value.kind == errors.CONNECT
    assert caught.value.message == "Could not reach the model server."
    (line,) = [r.getMessage() for r in caplog.records if r.name == "chat.upstream.client"]
    assert line.startswith("upstream unreachable: [Errno")


async def test_an_error_answer_cut_short_keeps_what_came():
    envelope = b'{"error": {"code": "server_is_overloaded", "message": "busy"}}'
    head = b"HTTP/1.1 503 Busy Now\r\ncontent-length: %d\r\n\r\n" % (len(envelope) + 100)
    loop = asyncio.get_running_loop()
    async with RawServer() as server:
        server.script(raw.reply(head + envelope, keep=False))
        with pytest.raises(UpstreamError) as caught:
            await bare.open_stream("GET", server.url(), None, {}, connect_timeout=1,
                                   max_connections=1, api_key="k", deadline=loop.time() + 5)  # fmt: skip
    err = caught.value
    assert (err.kind, err.status, err.code) == (errors.HTTP, 503, "server_is_overloaded")
    assert err.message == errors.BY_CODE["server_is_overloaded"]


async def test_an_error_answer_is_read_to_the_bound_only(caplog):
    message = b"m" * (MAX_ERROR_BODY * 2)
    head = b"HTTP/1.1 400 Bad\r\ncontent-length: %d\r\n\r\n" % len(message)
    loop = asyncio.get_running_loop()
    async with RawServer() as server:
        server.script(raw.reply(head + message))
        with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
            with pytest.raises(UpstreamError) as caught:
                await bare.open_stream("GET", server.url(), None, {}, connect_timeout=1,
                                       max_connections=1, api_key="k",
                                       deadline=loop.time() + 5)  # fmt: skip
    assert caught.value.status == 400
    # Not JSON: the first 300 bytes of it are the logged detail; the reason is not needed.
    assert "upstream HTTP 400 -: " + "m" * 300 in caplog.text
    assert "m" * 301 not in caplog.text


async def test_an_empty_error_answer_is_logged_by_its_reason(caplog):
    loop = asyncio.get_running_loop()
    async with RawServer() as server:
        server.script(raw.reply(b"HTTP/1.1 418  Short And Stout \r\ncontent-length: 0\r\n\r\n"))
        with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
            with pytest.raises(UpstreamError) as caught:
                await bare.open_stream("GET", server.url(), None, {}, connect_timeout=1,
                                       max_connections=1, api_key="k",
                                       deadline=loop.time() + 5)  # fmt: skip
    assert caught.value.status == 418
    assert "upstream HTTP 418 -: Short And Stout" in caplog.text


async def test_a_response_closed_twice_gives_its_connection_back_once():
    async with RawServer() as server:
        server.script(raw.reply(raw.head("200 OK", "content-length: 2") + b"ok"))
        loop = asyncio.get_running_loop()
        pool = Pool(loop, 2)
        wire, _ = await pool.acquire(("http", "127.0.0.1", server.port), 1.0)
        wire.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await wire.head()
        assert await wire.read() == b"ok" and await wire.read() == b""
        response = bare.WireResponse(pool, wire)
        await response.aclose()
        await response.aclose()
        assert (pool.open, pool.idle_count()) == (1, 1)
        pool.close()
