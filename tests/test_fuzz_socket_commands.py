"""Fuzzing the conversation socket: whatever a browser (or anyone holding the cookie) sends,
the answer is a clear error frame, the socket stays open and usable, and nothing is written.

Through the real stack (origin check, session auth, consumer) with Channels'
WebsocketCommunicator. (`bounds` fuzzes the accumulator with upstream events.)
"""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chat.commands import MAX_FRAME_BYTES, command_adapter
from chat.models import Conversation, Message
from project.asgi import application
from tests.relay_client import session_headers

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
    pytest.mark.usefixtures("fresh_registry"),
]
ERROR_BOX = 'id="composer-error"'
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
actions = st.sampled_from(["send", "stop", "retry"]) | st.text(max_size=10) | json_values
# A command that is wrong by construction: wrong types, unknown fields, odd shapes.
commands = st.one_of(
    json_values,
    st.fixed_dictionaries({"action": actions}),
    st.fixed_dictionaries({"action": actions, "message": json_values}),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["send", "stop", "retry"]), "message": st.text(max_size=20)},
        optional={"HEADERS": json_values},
    ).flatmap(
        lambda command: st.dictionaries(
            st.text(min_size=1, max_size=8).filter(lambda k: k not in command),
            json_values,
            min_size=1,
            max_size=3,
        ).map(lambda extra: {**command, **extra})
    ),
    st.fixed_dictionaries({"action": st.just("retry"), "message": st.integers()}),
)
# Raw frames that are not JSON commands at all, or are too large to parse.
raw_frames = st.one_of(
    st.text(max_size=200),
    st.integers(min_value=MAX_FRAME_BYTES - 10, max_value=MAX_FRAME_BYTES + 50_000).map(
        lambda n: json.dumps({"action": "send", "message": "x" * n})
    ),
    st.integers(min_value=40_000, max_value=1_000_000).map(
        lambda n: json.dumps({"action": "send", "message": "y" * n})
    ),
    st.sampled_from(["\x00", '{"action": "send", "message": "\\u0000"}', "[]", "null", "1e999"]),
)


def is_valid_send(raw: str) -> bool:
    """A well-formed send of a small message would start a turn: not what we fuzz here."""
    try:
        command = command_adapter.validate_json(raw)
    except ValidationError:
        return False
    message = getattr(command, "message", None)
    return command.action == "send" and isinstance(message, str) and bool(message.strip())


@pytest.fixture
def conversation(user):
    return Conversation.objects.create(owner=user, title="fuzz")


@pytest.fixture
def headers(user):
    return session_headers(user)


async def exchange(conversation, headers, frame: str | bytes) -> str:
    """Send one frame on a fresh socket; the socket must answer it and stay usable."""
    comm = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.pk}/", headers=headers
    )
    connected, _ = await comm.connect()
    assert connected
    try:
        # send_input, not send_to: an empty frame is a frame too.
        key = "bytes" if isinstance(frame, bytes) else "text"
        await comm.send_input({"type": "websocket.receive", key: frame})
        reply = await comm.receive_from(timeout=10)
        # Still open, still taking commands.
        await comm.send_to(text_data=json.dumps({"action": "stop"}))
        alive = await comm.receive_from(timeout=10)
        assert "There is no answer being written to stop." in alive
    finally:
        await comm.disconnect()
    return reply


def assert_clear_error(reply: str) -> None:
    assert ERROR_BOX in reply, reply[:500]
    assert "Traceback" not in reply and "Exception" not in reply
    assert len(reply) < 2_000  # the error names the problem; it does not echo the input


@FUZZ
@given(command=commands)
async def test_wrong_commands_get_a_clear_error_and_write_nothing(conversation, headers, command):
    raw = json.dumps(command)
    assume(not is_valid_send(raw))
    assert_clear_error(await exchange(conversation, headers, raw))
    assert not await sync_to_async(Message.objects.exists)()


@FUZZ
@given(frame=raw_frames)
async def test_raw_frames_get_a_clear_error_and_write_nothing(conversation, headers, frame):
    assume(not is_valid_send(frame))
    assert_clear_error(await exchange(conversation, headers, frame))
    assert not await sync_to_async(Message.objects.exists)()


@FUZZ
@given(frame=st.binary(max_size=64))
async def test_binary_frames_get_a_clear_error(conversation, headers, frame):
    assert_clear_error(await exchange(conversation, headers, frame))
    assert not await sync_to_async(Message.objects.exists)()
