"""The conversation socket with the real stack (origin check, session auth, registry)."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from chat.models import Conversation, Message
from chat.turns import registry as registry_module
from tests import fake_upstream as fake
from tests.relay_client import TabText, communicator, connected, receive_until, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_registry")]
FINAL = 'id="turn-controls" class="turn-controls" data-live="false"'


@pytest.fixture
def conversation(user):
    return Conversation.objects.create(owner=user, title="Test")


async def answer(conversation) -> Message:
    return await sync_to_async(
        lambda: Message.objects.filter(conversation=conversation, role="assistant").latest("id")
    )()


async def wait_until_idle(conversation_id: int) -> None:
    turn = registry_module.registry().turns.get(conversation_id)
    if turn is not None and turn.task is not None:
        await asyncio.wait_for(asyncio.shield(turn.task), 10)


async def test_anonymous_socket_is_refused(conversation):
    comm = await communicator(conversation.pk, None)
    ok, code = await comm.connect()
    assert not ok and code == 4401


async def test_foreign_user_is_refused_and_sent_nothing(conversation, other_user):
    comm = await communicator(conversation.pk, other_user)
    ok, code = await comm.connect()
    assert not ok and code == 4403
    assert await comm.receive_nothing()


async def test_foreign_origin_is_refused(conversation, user):
    comm = await communicator(conversation.pk, user, origin="http://evil.example")
    ok, _ = await comm.connect()
    assert not ok


async def test_send_streams_frames_in_order_and_stores_the_answer(upstream, conversation, user):
    upstream.enqueue(fake.text_stream("Hello there, <b>friend</b> & co.", chunk=3, delay=0.005))
    comm = await connected(conversation.pk, user)
    await send(comm, action="send", message="Say hi")
    tab = TabText()
    frames = await receive_until(comm, FINAL, tab)
    message = await answer(conversation)
    assert message.status == "completed"
    assert message.text == "Hello there, <b>friend</b> & co."
    assert tab.of(message.pk) == message.text  # shown as text, never as markup
    joined = "".join(frames)
    assert "&lt;b&gt;" in joined
    assert "<b>" not in joined
    assert joined.index(f'id="m{message.pk - 1}"') < joined.index(
        f'id="m{message.pk}"'
    )  # question first
    assert 'id="composer"' in joined  # the sender's composer is reset
    await comm.disconnect()


async def test_bad_commands_get_an_error_and_the_socket_stays_open(upstream, conversation, user):
    comm = await connected(conversation.pk, user)
    cases = [
        ("not json", "not JSON"),
        (json.dumps({"action": "dance"}), "Unknown command"),
        (json.dumps({"action": "send"}), "Bad command"),
        (json.dumps({"action": "send", "message": "hi", "extra": 1}), "Bad command"),
        (json.dumps({"action": "send", "message": "   "}), "empty"),
        (json.dumps({"action": "send", "message": "x" * 40_000}), "limit"),
        ("x" * 2_000_000, "too large"),
        (json.dumps({"action": "stop"}), "no answer being written"),
        (json.dumps({"action": "retry", "message": 999}), "cannot be retried"),
    ]
    for raw, expected in cases:
        await comm.send_to(text_data=raw)
        frame = await comm.receive_from(timeout=5)
        assert 'id="composer-error"' in frame and expected in frame, (raw[:40], frame)
    assert not await sync_to_async(Message.objects.exists)()
    upstream.enqueue(fake.text_stream("still works", delay=0))
    await send(comm, action="send", message="hello", HEADERS={"HX-Request": "true"})
    await receive_until(comm, FINAL)
    assert (await answer(conversation)).text == "still works"
    await comm.disconnect()


async def test_stop_keeps_the_partial_text(upstream, conversation, user):
    upstream.enqueue(fake.text_stream("word " * 400, chunk=5, delay=0.01))
    comm = await connected(conversation.pk, user)
    await send(comm, action="send", message="talk")
    tab = TabText()
    await receive_until(comm, "word word word", tab)
    await send(comm, action="stop")
    await receive_until(comm, FINAL, tab)
    message = await answer(conversation)
    assert message.status == "cancelled"
    assert 0 < len(message.text) < len("word " * 400)
    assert tab.of(message.pk) == message.text.strip()
    assert len([r for r in upstream.requests if r["method"] == "POST"]) == 1
    await comm.disconnect()


async def test_closing_every_socket_does_not_stop_the_turn(upstream, conversation, user):
    upstream.enqueue(fake.text_stream("keep going " * 30, chunk=4, delay=0.005))
    comm = await connected(conversation.pk, user)
    await send(comm, action="send", message="go")
    await receive_until(comm, "keep")
    await comm.disconnect()
    await wait_until_idle(conversation.pk)
    message = await answer(conversation)
    assert (message.status, message.text) == ("completed", "keep going " * 30)


async def test_reattach_mid_stream_has_no_gap_and_no_duplicate(upstream, conversation, user):
    text = "".join(f"{i:03d} " for i in range(200))
    upstream.enqueue(fake.text_stream(text, chunk=4, delay=0.004))
    first = await connected(conversation.pk, user)
    await send(first, action="send", message="count")
    await receive_until(first, "010 ")
    await first.disconnect()
    second = await connected(conversation.pk, user)
    tab = TabText()
    snapshot = await second.receive_from(timeout=5)
    tab.feed(snapshot)
    message = await answer(conversation)
    partial = tab.of(message.pk)
    assert partial.startswith("000 001") and len(partial) < len(text)  # a live snapshot
    await receive_until(second, FINAL, tab)
    message = await answer(conversation)
    assert tab.of(message.pk) == message.text.strip() == text.strip()
    await second.disconnect()


async def test_two_sockets_see_the_same_stream(upstream, conversation, user):
    text = "".join(f"<{i}> " for i in range(120))
    upstream.enqueue(fake.text_stream(text, chunk=3, delay=0.003))
    a, b = await connected(conversation.pk, user), await connected(conversation.pk, user)
    await send(a, action="send", message="together")
    tab_a, tab_b = TabText(), TabText()
    frames_a = await receive_until(a, FINAL, tab_a)
    await receive_until(b, FINAL, tab_b)
    message = await answer(conversation)
    assert tab_a.of(message.pk) == tab_b.of(message.pk) == message.text.strip()
    streamed = "".join(frames_a)
    assert "&lt;0&gt;" in streamed
    await a.disconnect()
    await b.disconnect()


async def test_failure_shows_an_error_box_and_retry_starts_again(upstream, conversation, user):
    upstream.enqueue(
        fake.http_error(
            503,
            {"error": {"message": "Overloaded", "code": "server_is_overloaded"}},
            headers={"retry-after": "0"},
        ),
        fake.http_error(
            503,
            {"error": {"message": "Overloaded", "code": "server_is_overloaded"}},
            headers={"retry-after": "0"},
        ),
        fake.http_error(
            503,
            {"error": {"message": "Overloaded", "code": "server_is_overloaded"}},
            headers={"retry-after": "0"},
        ),
        fake.text_stream("Second time lucky.", delay=0),
    )
    comm = await connected(conversation.pk, user)
    await send(comm, action="send", message="try")
    frames = await receive_until(comm, FINAL)
    failed = await answer(conversation)
    final = frames[-1]
    assert failed.status == "failed" and failed.error_code == "server_is_overloaded"
    assert "The answer failed." in final and "overloaded right now" in final  # our words
    assert 'name="action" value="retry"' in final
    await send(comm, action="retry", message=failed.pk)
    await receive_until(comm, FINAL)
    retried = await answer(conversation)
    assert retried.pk != failed.pk and retried.status == "completed"
    questions = await sync_to_async(list)(
        Message.objects.filter(conversation=conversation, role="user").values_list(
            "text", flat=True
        )
    )
    # Retry writes a new version of the answer to the same question: never a second copy.
    assert questions == ["try"]
    assert retried.parent_id == failed.parent_id
    await comm.disconnect()


async def test_sidebar_dot_follows_turns_in_other_conversations(upstream, conversation, user):
    other = await sync_to_async(Conversation.objects.create)(owner=user, title="Elsewhere")
    watcher = await connected(other.pk, user)  # a tab open on another conversation
    upstream.enqueue(fake.text_stream("hi", delay=0))
    comm = await connected(conversation.pk, user)
    await send(comm, action="send", message="go")
    seen = await receive_until(watcher, f'id="conv-{conversation.pk}-dot" class="dot-slot"></span>')
    assert any("live-dot" in f and f"conv-{conversation.pk}-dot" in f for f in seen)
    await comm.disconnect()
    await watcher.disconnect()


async def test_a_send_opens_the_upstream_connection_before_the_plan(
    upstream, conversation, user, monkeypatch
):
    """The connect overlaps the plan's database work (chat/turns/endpoint.py's warm)."""
    from chat import consumers
    from chat.turns import endpoint

    order: list[str] = []
    real_warm, real_plan = endpoint.warm, consumers.plan_turn

    def warm() -> None:
        order.append("warm")
        real_warm()

    def plan(**kwargs):
        order.append("plan")
        return real_plan(**kwargs)

    monkeypatch.setattr(endpoint, "warm", warm)
    monkeypatch.setattr(consumers, "plan_turn", plan)
    upstream.enqueue(fake.text_stream("Hi", chunk=2))
    comm = await connected(conversation.pk, user)
    await send(comm, action="send", message="Hello")
    await receive_until(comm, FINAL, TabText())
    await wait_until_idle(conversation.pk)
    assert order == ["warm", "plan"]
    await comm.disconnect()
