"""Frames written straight to the socket in the caller's step (chat/socket_writer.py): no task
while the server's send cannot block; under backpressure the rest goes on in a task, in order;
a pass writes each socket once; a socket that fails drops out without raising.

The backpressure case runs a real uvicorn server (websockets-sansio, the production launcher's
protocol) on loopback with a client that stops reading, so the transport really pauses."""

import asyncio
import socket
import struct

import pytest
import uvicorn

from chat.socket_writer import SocketWriter, write_pass


class Sent:
    """A send that never suspends, like daphne's and the test communicator's."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(self, message: dict) -> None:
        self.texts.append(message["text"])


class Gated(Sent):
    """A send that waits while its gate is shut, as uvicorn's waits for a writable transport."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, message: dict) -> None:
        await self.gate.wait()
        self.texts.append(message["text"])


class Gone(Sent):
    async def __call__(self, message: dict) -> None:
        raise ConnectionResetError("the tab went away")


async def test_a_frame_is_on_the_wire_in_the_callers_step_without_a_task():
    sent = Sent()
    writer = SocketWriter(sent)
    before = len(asyncio.all_tasks())
    writer.queue("a")
    assert sent.texts == ["a"]  # no await in between: written synchronously
    assert writer.task is None and len(asyncio.all_tasks()) == before


async def test_a_socket_whose_send_suspends_mid_pass_holds_up_no_other():
    before, blocked, after = Sent(), Gated(), Sent()
    writers = [SocketWriter(before), SocketWriter(blocked), SocketWriter(after)]
    blocked.gate.clear()
    with write_pass():
        for writer in writers:
            writer.queue("frame")
    assert before.texts == ["frame"] and after.texts == ["frame"]  # written in the pass
    assert blocked.texts == [] and writers[1].task is not None
    writers[1].queue(" next")  # queued behind the suspended send
    writers[0].queue(" next")  # the others still write at once
    assert before.texts == ["frame", " next"] and writers[0].task is None
    blocked.gate.set()
    await asyncio.wait_for(asyncio.shield(writers[1].task), 2)
    assert blocked.texts == ["frame", " next"] and writers[1].task is None


async def test_under_backpressure_frames_keep_their_order_and_none_is_lost_or_doubled():
    send = Gated()
    writer = SocketWriter(send)
    writer.queue("1 ")
    send.gate.clear()  # the transport's buffer is full
    writer.queue("2 ")  # its send suspends: the writer falls back to a task
    assert writer.task is not None and send.texts == ["1 "]
    writer.queue("3 ")
    with write_pass():
        writer.queue("4 ")  # a pass does not jump the queue either
    writer.queue("5 ")
    assert send.texts == ["1 "]
    send.gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
        if writer.task is None:
            break
    assert send.texts == ["1 ", "2 ", "3 4 5 "]  # in order; what queued meanwhile: one message
    assert writer.task is None
    writer.queue("6 ")
    assert send.texts[-1] == "6 " and writer.task is None  # straight again once drained


async def test_a_pass_writes_each_socket_once_with_all_its_frames():
    first, second = Sent(), Sent()
    a, b = SocketWriter(first), SocketWriter(second)
    with write_pass():
        a.queue("<x>")
        b.queue("<y>")
        with write_pass():  # nested: only the outer pass writes
            a.queue("<z>")
        assert first.texts == [] and second.texts == []
    assert first.texts == ["<x><z>"] and second.texts == ["<y>"]


async def test_a_socket_closing_mid_pass_raises_nothing_and_the_others_get_their_frames():
    before, gone, after = Sent(), Gone(), Sent()
    writers = [SocketWriter(before), SocketWriter(gone), SocketWriter(after)]
    with write_pass():
        for writer in writers:
            writer.queue("frame")
    assert before.texts == ["frame"] and after.texts == ["frame"]
    assert writers[1].closed and not writers[1].pending
    writers[1].queue("more")  # dropped, not queued forever
    assert not writers[1].pending


async def test_a_socket_that_fails_after_suspending_drops_out_quietly():
    send = Gated()
    writer = SocketWriter(send)
    send.gate.clear()
    writer.queue("a")
    assert writer.task is not None

    async def broken(message: dict) -> None:
        raise ConnectionResetError

    writer.send = broken  # the frames queued behind go to a socket that is gone by then
    writer.queue("b")
    send.gate.set()
    await asyncio.wait_for(asyncio.shield(writer.task), 2)
    assert send.texts == ["a"] and writer.closed and writer.task is None


async def test_close_stops_a_suspended_send_and_drops_the_queue():
    send = Gated()
    writer = SocketWriter(send)
    send.gate.clear()
    writer.queue("a")
    task = writer.task
    writer.queue("b")
    writer.close()
    send.gate.set()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and send.texts == [] and writer.task is None
    writer.queue("c")
    assert send.texts == [] and not writer.pending


# --- a real uvicorn server and a client that stops reading ---

FRAMES = 600
FRAME_CHARS = 8000  # ~4.8 MB in all: past the kernel's buffers and uvicorn's high-water mark


class App:
    """Accepts, then writes FRAMES numbered frames through a SocketWriter as fast as it can."""

    def __init__(self) -> None:
        self.suspended = 0  # frames queued while a send was suspended (the fallback ran)
        self.done = asyncio.Event()

    async def __call__(self, scope: dict, receive, send) -> None:
        assert scope["type"] == "websocket"
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        writer = SocketWriter(send)
        for i in range(FRAMES):
            writer.queue(f"{i:05d}".ljust(FRAME_CHARS, "."))
            if writer.task is not None:
                self.suspended += 1
                await asyncio.sleep(0)  # let the loop run: the client may drain meanwhile
        if writer.task is not None:
            await writer.task  # the rest, in order
        self.done.set()
        await receive()  # until the client leaves


async def read_text(reader: asyncio.StreamReader, chars: int) -> tuple[str, int]:
    """Every text message until `chars` characters came: (their text joined, messages)."""
    texts: list[str] = []
    received = 0
    while received < chars:
        head = await reader.readexactly(2)
        size = head[1] & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await reader.readexactly(8))
        payload = await reader.readexactly(size)
        assert head[0] == 0x81  # whole text messages only (no ping this soon, no fragments)
        texts.append(payload.decode())
        received += len(texts[-1])
    return "".join(texts), len(texts)


@pytest.mark.timeout(60)
async def test_backpressure_on_a_real_uvicorn_socket_keeps_every_frame_in_order():
    app = App()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, ws="websockets-sansio", http="h11", lifespan="off", log_level="warning",
        ws_per_message_deflate=False, ws_ping_interval=None,
    )  # fmt: skip
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[listener])
    try:
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow tab: small window
        client.connect(("127.0.0.1", port))
        client.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=client)
        writer.write(
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.3)  # not reading: the server's transport fills and pauses
        assert app.suspended > 0 and not app.done.is_set()  # the fallback really ran
        text, messages = await asyncio.wait_for(read_text(reader, FRAMES * FRAME_CHARS), 30)
        await asyncio.wait_for(app.done.wait(), 5)
        assert len(text) == FRAMES * FRAME_CHARS
        frames = [text[i : i + FRAME_CHARS] for i in range(0, len(text), FRAME_CHARS)]
        assert [int(frame[:5]) for frame in frames] == list(range(FRAMES))  # in order, once each
        assert all(frame.rstrip(".") == f"{i:05d}" for i, frame in enumerate(frames))
        assert messages < FRAMES  # frames that queued behind a suspended send went joined
        writer.close()
    finally:
        server.should_exit = True
        await server.shutdown()
