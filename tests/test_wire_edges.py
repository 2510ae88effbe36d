"""The edges of chat.upstream.wire that issue 13's mutation pass found unpinned: bytes nobody
asked for (before a request, after an answer's end) in our own words, the head's bound at
exactly MAX_HEAD and across reads, the reason and repeated headers as sent, an interim answer
leaving nothing behind, the flow-control count after a read, a body parse error's type, and a
connection that keeps working after a read that woke the reader. Real loopback sockets where
the socket matters; the recording transport of test_upstream_wire where only bytes do."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from chat.upstream.wire import HIGH_WATER, MAX_HEAD, BadResponse, HeadTooLarge, Wire, WireError
from tests import raw_http as raw
from tests.test_upstream_wire import connected, drain

pytestmark = pytest.mark.timeout(30)
REQUEST = b"GET /v1/x HTTP/1.1\r\nhost: x\r\n\r\n"
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(script: Script) -> AsyncIterator[Wire]:
    """A loopback server running `script` on its one connection, and our Wire to it."""
    loop = asyncio.get_running_loop()
    server = await asyncio.start_server(script, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, w = await loop.create_connection(
        lambda: Wire(loop, ("http", "127.0.0.1", port)), "127.0.0.1", port
    )
    try:
        yield w
    finally:
        w.close()
        server.close()


def answer_then(extra: bytes, body: bytes = b"ok") -> Script:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw.head("200 OK", f"content-length: {len(body)}") + body)
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(extra)
        await writer.drain()
        await asyncio.sleep(5)

    return script


async def test_bytes_before_any_request_fail_the_connection_in_our_words():
    async def talks_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(raw.head("200 OK", "content-length: 0"))
        await writer.drain()
        await asyncio.sleep(5)

    async with serving(talks_first) as w:
        await raw.until(lambda: not w.alive)
        assert not w.alive and not w.reusable
        w.send(REQUEST)
        with pytest.raises(BadResponse, match="^unexpected bytes from the server$"):
            await asyncio.wait_for(w.head(), 2)


async def test_a_whole_answer_sent_after_the_end_fails_the_connection():
    # Even well-formed: nobody asked for it, so the framing can no longer be trusted.
    async with serving(answer_then(raw.head("200 OK", "content-length: 0"))) as w:
        w.send(REQUEST)
        await w.head()
        assert await drain(w) == b"ok"
        await raw.until(lambda: not w.alive)
        assert not w.alive and not w.reusable
        w.send(REQUEST)
        with pytest.raises(BadResponse, match="^unexpected bytes from the server$"):
            await asyncio.wait_for(w.head(), 2)


async def test_a_head_of_exactly_max_head_bytes_is_accepted():
    base = raw.head("200 OK", "content-length: 2", "x-pad: ")
    head = raw.head("200 OK", "content-length: 2", "x-pad: " + "p" * (MAX_HEAD - len(base)))
    assert len(head) == MAX_HEAD
    w, t = connected()
    w.data_received(head + b"ok")
    await w.head()
    assert (w.status, await drain(w), w.reusable) == (200, b"ok", True)
    # One byte more, cut at exactly MAX_HEAD: not refused until that byte comes.
    over = head[:-4] + b"q\r\n\r\n"
    w, t = connected()
    w.data_received(over[:-1])
    assert not t.closed
    w.data_received(over[-1:])
    with pytest.raises(HeadTooLarge):
        await asyncio.wait_for(w.head(), 2)


async def test_a_head_over_the_bound_across_reads_is_refused_in_our_words():
    w, t = connected()
    # Counted over every read, not per read: three reads each well under the bound.
    w.data_received(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * (MAX_HEAD // 3))
    w.data_received(b"a" * (MAX_HEAD // 3))
    assert not t.closed
    w.data_received(b"a" * (MAX_HEAD // 3))
    with pytest.raises(HeadTooLarge, match=f"^response head over {MAX_HEAD} bytes$"):
        await asyncio.wait_for(w.head(), 2)
    assert t.closed


async def test_garbage_past_the_head_bound_is_a_bad_response_not_a_large_head():
    w, t = connected()
    w.data_received(b"SSH-2.0-OpenSSH_9.6\r\n" + b"x" * MAX_HEAD)
    with pytest.raises(WireError) as caught:
        await asyncio.wait_for(w.head(), 2)
    assert type(caught.value) is BadResponse


async def test_the_reason_is_kept_as_sent_across_reads_and_clipped_at_200():
    w, t = connected()
    w.data_received(b"HTTP/1.1 404 " + b"r" * 150)
    w.data_received(b"s" * 150 + b"\r\ncontent-length: 0\r\n\r\n")
    await w.head()
    assert w.reason == b"r" * 150 + b"s" * 50
    w, t = connected()
    w.data_received(raw.head("200 Fine"))
    await w.head()
    assert w.reason == b"Fine"


async def test_repeated_headers_are_joined_and_names_lowercased():
    w, t = connected()
    w.data_received(
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nX-B: caf\xe9\r\ncontent-length: 0\r\n\r\n"
    )
    await w.head()
    assert w.headers["x-a"] == "1, 2"
    assert w.headers["x-b"] == "café"


async def test_an_interim_answer_leaves_no_reason_or_headers_behind():
    w, t = connected()
    w.data_received(b"HTTP/1.1 100 Continue\r\nx-early: 1\r\n\r\n")
    w.data_received(b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n")
    w.data_received(b"HTTP/1.1 201 Made\r\ncontent-length: 2\r\n\r\nok")
    await w.head()
    assert (w.status, w.reason, w.headers) == (201, b"Made", {"content-length": "2"})
    assert await drain(w) == b"ok" and w.reusable


async def test_the_buffered_count_starts_again_after_a_read():
    w, t = connected()
    w.data_received(raw.head("200 OK", f"content-length: {HIGH_WATER * 3}"))
    await w.head()
    w.data_received(b"a" * 10)
    assert await w.read() == b"a" * 10
    w.data_received(b"b" * HIGH_WATER)
    assert t.reading  # exactly at the mark again: still reading
    w.data_received(b"c")
    assert not t.reading


async def test_a_clean_close_mid_body_says_so():
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw.head("200 OK", "content-length: 10") + b"12345")
        await writer.drain()
        writer.close()

    async with serving(half) as w:
        w.send(REQUEST)
        await w.head()
        msg = "^the server closed the connection before the body's end$"
        with pytest.raises(WireError, match=msg):
            await asyncio.wait_for(drain(w), 2)


async def test_bad_chunk_framing_in_the_body_is_a_bad_response():
    async def bad_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw.head("200 OK", "transfer-encoding: chunked"))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(b"zz\r\nnot a chunk\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async with serving(bad_chunks) as w:
        w.send(REQUEST)
        await w.head()
        with pytest.raises(WireError) as caught:
            await asyncio.wait_for(drain(w), 2)
        assert type(caught.value) is BadResponse


async def test_body_bytes_arriving_between_reads_keep_the_connection_reusable():
    async def two_halves(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw.head("200 OK", "content-length: 10"))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(b"12345")  # wakes a read waiting for it
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(b"67890")
        await writer.drain()
        await asyncio.sleep(5)

    async with serving(two_halves) as w:
        w.send(REQUEST)
        await w.head()
        got = await asyncio.wait_for(w.read(), 2)
        assert got == b"12345"
        await asyncio.sleep(0.3)  # the rest arrives while nobody reads
        got += await asyncio.wait_for(drain(w), 2)
        assert got == b"1234567890"
        assert w.alive and w.reusable
