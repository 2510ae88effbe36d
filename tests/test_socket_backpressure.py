"""The conversation socket with the real stack when the server's send blocks or fails: frames
written in the flush pass (chat/socket_writer.py) keep their order through backpressure, and a
socket that dies mid-stream neither raises into the runner nor holds up the other tabs."""

import asyncio
import json
import logging

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from chat.models import Conversation, Message
from chat.turns import registry as registry_module
from chat.upstream.client import close_shared_client
from project.asgi import application
from tests import fake_upstream as fake
from tests.relay_client import TabText, receive_until, session_headers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
FINAL = 'data-live="false"'
TEXT = "".join(f"{i:03d} " for i in range(200))


class Server:
    """The outermost layer, in the server's place: its send waits while `gate` is shut (as
    uvicorn's waits for a writable transport) and fails once `gone` (a vanished client)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.gone = False
        self.waited = 0  # frames whose send found the gate shut

    async def __call__(self, scope: dict, receive, send) -> None:
        async def server_send(message: dict) -> None:
            if message["type"] == "websocket.send":
                if not self.gate.is_set():
                    self.waited += 1
                await self.gate.wait()
                if self.gone:
                    raise ConnectionResetError("the client went away")
            await send(message)

        await application(scope, receive, server_send)


@pytest.fixture(autouse=True)
async def fresh_registry():
    registry_module._registry = None
    yield
    registry_module._registry = None
    await close_shared_client()


@pytest.fixture
def conversation(user):
    return Conversation.objects.create(owner=user, title="Test")


async def tab(conversation, user, server: Server) -> WebsocketCommunicator:
    headers = await sync_to_async(session_headers)(user)
    comm = WebsocketCommunicator(server, f"/ws/conversations/{conversation.pk}/", headers=headers)
    ok, _ = await comm.connect()
    assert ok
    return comm


@sync_to_async
def answer(conversation) -> Message:
    return Message.objects.filter(conversation=conversation, role="assistant").latest("id")


async def test_frames_held_by_backpressure_arrive_in_order_once_each(upstream, conversation, user):
    held = fake.Gate()
    upstream.enqueue(fake.text_stream(TEXT, chunk=4, delay=0.002, gate=held, gate_after=20))
    server = Server()
    comm = await tab(conversation, user, server)
    seen = TabText()
    await comm.send_to(text_data=json.dumps({"action": "send", "message": "count"}))
    await receive_until(comm, "019 ", seen)  # the stream waits at its gate after 20 deltas
    server.gate.clear()  # the tab stops reading: the server's send would block
    held.open()  # the other 180 deltas and the end come while it is blocked
    turn = registry_module.registry().turns[conversation.pk]
    await asyncio.wait_for(asyncio.shield(turn.task), 15)  # the turn ended, its frames queued
    assert server.waited == 1  # one send waits; the frames behind it queue, none is sent
    server.gate.set()
    await receive_until(comm, FINAL, seen, wait=15)
    message = await answer(conversation)
    assert seen.of(message.pk) == TEXT.strip()  # nothing lost, doubled or reordered
    assert message.status == "completed" and message.text == TEXT
    await comm.disconnect()


async def test_a_tab_that_dies_mid_stream_leaves_the_turn_and_the_other_tab_whole(
    upstream, conversation, user, caplog
):
    held = fake.Gate()
    upstream.enqueue(fake.text_stream(TEXT, chunk=4, delay=0.002, gate=held, gate_after=20))
    alive_server, dying_server = Server(), Server()
    alive = await tab(conversation, user, alive_server)
    dying = await tab(conversation, user, dying_server)
    seen = TabText()
    await alive.send_to(text_data=json.dumps({"action": "send", "message": "count"}))
    await receive_until(dying, "019 ")
    dying_server.gone = True  # its next write fails, inside a flush pass shared with `alive`
    held.open()
    with caplog.at_level(logging.DEBUG, logger="chat"):
        await receive_until(alive, FINAL, seen, wait=15)
    message = await answer(conversation)
    assert seen.of(message.pk) == TEXT.strip()
    assert message.status == "completed" and message.text == TEXT
    assert "socket write failed" in caplog.text  # it did fail, and quietly
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # nothing raised
    await alive.disconnect()
    await dying.disconnect()
