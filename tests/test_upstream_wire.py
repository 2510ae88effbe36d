"""The bare reader's protocol (chat.upstream.wire) fed bytes directly: every way the network
can split an answer, the head's bound, and flow control under a slow consumer (also over a
real socket)."""

import asyncio

import pytest

from chat.upstream import wire
from chat.upstream.sse import SSEFramer
from chat.upstream.wire import HeadTooLarge, Wire, WireError
from tests import raw_http as raw
from tests.raw_http import RawServer

pytestmark = pytest.mark.timeout(60)


class Transport:
    """What a Wire asks of its transport, recorded."""

    def __init__(self) -> None:
        self.written = b""
        self.reading = True
        self.pauses = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    abort = close


def connected() -> tuple[Wire, Transport]:
    w = Wire(asyncio.get_running_loop(), ("http", "h", 80))
    t = Transport()
    w.connection_made(t)  # type: ignore[arg-type]
    w.send(b"GET / HTTP/1.1\r\n\r\n")
    return w, t


async def drain(w: Wire) -> bytes:
    out = b""
    while chunk := await w.read():
        out += chunk
    return out


def events_in(body: bytes) -> list[bytes]:
    framer = SSEFramer()
    return framer.feed(body) + framer.close()


BODY = raw.answer("split me at every single byte")
CHUNKED = raw.head("200 OK", "transfer-encoding: chunked") + raw.chunked(BODY, size=23)


async def test_chunked_answer_split_at_every_byte_boundary():
    for cut in range(1, len(CHUNKED)):
        w, t = connected()
        w.data_received(CHUNKED[:cut])
        w.data_received(CHUNKED[cut:])
        await w.head()
        assert (w.status, await drain(w)) == (200, BODY), cut
        assert w.reusable, cut


async def test_chunked_answer_one_byte_at_a_time_with_reads_between():
    w, t = connected()
    got = b""
    for i in range(len(CHUNKED)):
        w.data_received(CHUNKED[i : i + 1])
        if w.status and w._chunks:
            got += await w.read()
    assert got == BODY
    assert await w.read() == b""
    assert events_in(got) == events_in(BODY)


async def test_read_waits_for_data_and_wakes_on_it():
    w, t = connected()
    w.data_received(raw.head("200 OK", "transfer-encoding: chunked"))
    await w.head()
    pending = asyncio.ensure_future(w.read())
    await asyncio.sleep(0)
    assert not pending.done()
    w.data_received(b"3\r\nabc\r\n")
    assert await pending == b"abc"


async def test_an_expired_read_fails_even_with_data_buffered():
    w, t = connected()
    w.data_received(raw.head("200 OK", "transfer-encoding: chunked") + b"3\r\nabc\r\n")
    await w.head()
    w.expire(TimeoutError("watchdog"))
    with pytest.raises(TimeoutError):
        await w.read()


async def test_the_head_bound():
    w, t = connected()
    w.data_received(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * wire.MAX_HEAD)
    with pytest.raises(HeadTooLarge):
        await w.head()
    assert t.closed
    # A head just under the bound, sent with a body far over it, in one read: fine.
    w, t = connected()
    filler = "x: " + "b" * (wire.MAX_HEAD - 200)
    big_body = raw.chunked(b"y" * 1_000_000, size=100_000)
    w.data_received(raw.head("200 OK", "transfer-encoding: chunked", filler) + big_body)
    await w.head()
    assert len(await drain(w)) == 1_000_000


async def test_garbage_instead_of_http_and_bytes_after_the_end():
    w, t = connected()
    w.data_received(b"SSH-2.0-OpenSSH_9.6\r\n")
    with pytest.raises(WireError):
        await w.head()
    w, t = connected()
    w.data_received(raw.head("200 OK", "content-length: 2") + b"okEXTRA")
    await w.head()
    assert not w.reusable and t.closed  # framing broken: never reused


async def test_eof_mid_body_is_an_error_but_ends_a_body_without_length():
    w, t = connected()
    w.data_received(raw.head("200 OK", "transfer-encoding: chunked") + b"5\r\nab")
    w.eof_received()
    await w.head()
    assert await w.read() == b"ab"  # what came is handed over first
    with pytest.raises(WireError):
        await w.read()
    w, t = connected()
    w.data_received(raw.head("200 OK") + b"data: until close\n\n")
    w.eof_received()
    await w.head()
    assert await drain(w) == b"data: until close\n\n"
    assert not w.reusable


async def test_reading_pauses_while_the_consumer_lags_and_resumes_when_it_reads():
    w, t = connected()
    w.data_received(raw.head("200 OK", "transfer-encoding: chunked"))
    await w.head()
    piece = raw.chunked(b"z" * 10_000, size=10_000)[: -len(b"0\r\n\r\n")]
    sent = 0
    while t.reading:
        w.data_received(piece)
        sent += 10_000
    assert wire.HIGH_WATER < sent <= wire.HIGH_WATER + 10_000
    assert len(await w.read()) == sent
    assert t.reading and t.pauses == 1


async def test_a_slow_consumer_over_a_real_socket_bounds_the_buffer():
    """The server writes 4 MiB as fast as it can; the reader takes a chunk every 5 ms. The
    bytes held in the reader stay near HIGH_WATER (TCP pushes back), and nothing is lost."""
    total = 4 * 1024 * 1024
    body = b"".join(b"data: %07d\n\n" % i for i in range(total // 15))

    async def flood(writer, request):
        writer.write(raw.head("200 OK", f"content-length: {len(body)}"))
        for i in range(0, len(body), 65_536):
            writer.write(body[i : i + 65_536])
            await writer.drain()
        return False

    async with RawServer() as server:
        server.script(flood)
        loop = asyncio.get_running_loop()
        _, w = await loop.create_connection(
            lambda: Wire(loop, ("http", "127.0.0.1", server.port)), "127.0.0.1", server.port
        )
        w.send(b"GET /v1/x HTTP/1.1\r\nhost: x\r\n\r\n")
        await w.head()
        got, most, paused = [], 0, 0
        while chunk := await w.read():
            most = max(most, len(chunk))
            got.append(chunk)
            await asyncio.sleep(0.005)
            paused += not w.transport.is_reading()
        w.close()
    assert b"".join(got) == body
    # One read takes what is buffered: at most the high water mark plus one socket read.
    assert most <= wire.HIGH_WATER + 262_144, most
    assert paused >= 5  # the socket was paused while the consumer slept
