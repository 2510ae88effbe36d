"""A connection that ends without the server's EOF (a reset, a transport error), and our own
close (issue 13's mutation pass over chat.upstream.wire): what came is handed over, then the
reader learns the connection broke, with the cause's words; an answer already complete stays
complete; the pool's hook hears of it. Over real loopback sockets where a socket can do it."""

import asyncio
import socket
import struct

import pytest

from chat.upstream.wire import BadResponse, Wire, WireError
from tests import raw_http as raw
from tests.raw_http import RawServer
from tests.test_upstream_wire import connected, drain

pytestmark = pytest.mark.timeout(30)
REQUEST = b"GET /v1/x HTTP/1.1\r\nhost: x\r\n\r\n"


async def open_wire(server: RawServer) -> Wire:
    loop = asyncio.get_running_loop()
    _, w = await loop.create_connection(
        lambda: Wire(loop, ("http", "127.0.0.1", server.port)), "127.0.0.1", server.port
    )
    return w


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST, not a FIN: the client sees a reset, never an EOF."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def test_a_reset_mid_body_keeps_what_came_then_fails_with_the_cause():
    async def partial_then_reset(writer, request):
        writer.write(raw.head("200 OK", "transfer-encoding: chunked") + b"5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        reset(writer)
        return False

    async with RawServer() as server:
        server.script(partial_then_reset)
        w = await open_wire(server)
        lost = []
        w.on_lost = lost.append
        w.send(REQUEST)
        await w.head()
        got = b""
        with pytest.raises(WireError) as caught:
            while True:
                got += await asyncio.wait_for(w.read(), 5)
        assert got == b"hello"
        assert "reset" in str(caught.value).lower()
        assert not w.alive and not w.reusable
        assert lost == [w]


async def test_a_reset_before_the_head_fails_the_head():
    async def reset_at_once(writer, request):
        reset(writer)
        return False

    async with RawServer() as server:
        server.script(reset_at_once)
        w = await open_wire(server)
        w.send(REQUEST)
        with pytest.raises(WireError):
            await asyncio.wait_for(w.head(), 5)


async def test_a_lost_connection_without_eof_wakes_a_waiting_read():
    w, t = connected()
    w.data_received(raw.head("200 OK", "transfer-encoding: chunked"))
    await w.head()
    pending = asyncio.ensure_future(w.read())
    await asyncio.sleep(0)
    w.connection_lost(ConnectionResetError("peer reset"))
    with pytest.raises(WireError, match="^peer reset$"):
        await asyncio.wait_for(pending, 1)
    assert not w.alive


async def test_a_cause_without_words_is_named_by_its_type():
    w, t = connected()
    w.data_received(raw.head("200 OK", "transfer-encoding: chunked"))
    await w.head()
    w.connection_lost(ConnectionResetError())
    with pytest.raises(WireError, match="^ConnectionResetError$"):
        await asyncio.wait_for(w.read(), 1)


async def test_a_clean_loss_mid_body_is_still_a_break():
    w, t = connected()
    w.data_received(raw.head("200 OK", "content-length: 10") + b"abc")
    await w.head()
    w.connection_lost(None)
    assert await w.read() == b"abc"
    with pytest.raises(WireError, match="before the body's end"):
        await asyncio.wait_for(w.read(), 1)


async def test_a_loss_after_a_complete_answer_is_no_error():
    w, t = connected()
    w.data_received(raw.head("200 OK", "content-length: 2") + b"ok")
    await w.head()
    w.connection_lost(OSError("gone"))
    assert await drain(w) == b"ok"
    assert not w.reusable  # but not kept either: it is closed


async def test_the_first_failure_is_the_one_reported():
    w, t = connected()
    w.data_received(b"SSH-2.0-OpenSSH_9.6\r\n")
    w.connection_lost(ConnectionResetError("later"))
    with pytest.raises(BadResponse):
        await asyncio.wait_for(w.head(), 1)


async def test_close_closes_the_transport():
    w, t = connected()
    w.close()
    assert t.closed and not w.alive
    Wire(asyncio.get_running_loop(), ("http", "h", 80)).close()  # never connected: no error


async def test_close_over_a_real_socket_reaches_the_server():
    seen = asyncio.Event()

    async def answer_then_wait(writer, request):
        writer.write(raw.head("200 OK", "content-length: 2") + b"ok")
        await writer.drain()
        return True  # keep-alive: the server then waits for the next request or the close

    async with RawServer() as server:
        server.script(answer_then_wait)
        w = await open_wire(server)
        w.send(REQUEST)
        await w.head()
        assert await drain(w) == b"ok"
        assert w.reusable and server.open_now == 1
        w.close()
        for _ in range(200):
            if server.open_now == 0:
                seen.set()
                break
            await asyncio.sleep(0.01)
        assert seen.is_set()
        assert not w.alive


async def test_reading_pauses_only_past_the_high_water_mark():
    from chat.upstream.wire import HIGH_WATER

    w, t = connected()
    w.data_received(raw.head("200 OK", f"content-length: {HIGH_WATER * 2}"))
    await w.head()
    w.data_received(b"a" * HIGH_WATER)
    assert t.reading  # exactly at the mark: still reading
    w.data_received(b"b")
    assert not t.reading and t.pauses == 1


async def test_an_eof_before_the_head_says_so():
    w, t = connected()
    w.eof_received()
    with pytest.raises(WireError, match="^the server closed the connection before answering$"):
        await asyncio.wait_for(w.head(), 1)
