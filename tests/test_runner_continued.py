"""A continued message run by TurnRunner directly: each round's request sends the message's
items before the continuation, the request to go on, then the items streamed since; reasoning
travels with them only when the server does not keep it (CHAT_STORE off)."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Conversation, Message
from chat.turns import continuation, endpoint
from chat.turns.items import Item, Part
from chat.turns.resume import Resume
from chat.turns.runner import TurnRunner
from chat.upstream.client import close_shared_client
from tests import tool_kit
from tests.fake_streams import answer_with_outputs, tool_call_stream

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
BEFORE = [
    Item(type="reasoning", id="rs_old", summary=["plan"], encrypted_content="enc-old").to_dict(),
    Item(type="message", id="msg_old", parts=[Part(text="Once upon")]).to_dict(),
]


@sync_to_async
def claimed_continuation(user) -> continuation.Claimed:
    conversation = Conversation.objects.create(owner=user)
    Message.objects.create(conversation=conversation, role="user", text="Tell a story")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status="incomplete", text="Once upon",
        items=BEFORE, incomplete_reason="max_output_tokens", response_id="resp_1",
        settings={"model": "gpt-4o-mini"},
    )  # fmt: skip
    return continuation.claim(
        user=user, conversation_id=conversation.pk, message_id=answer.pk, lease_owner="me-1"
    )


def resume_of(claimed) -> Resume:
    message = claimed.message
    return Resume(
        message_id=message.pk, conversation_id=message.conversation_id,
        lease_owner=claimed.lease_owner, response_id=message.response_id,
        last_seq=message.last_seq, items=message.items, model=message.model,
        first_event_at=None, first_token_at=None, rounds=message.rounds,
        then_input=claimed.then_input,
    )  # fmt: skip


def kinds(body: dict) -> list[str]:
    return [
        i["role"] if i.get("type", "message") == "message" else i["type"] for i in body["input"]
    ]


@pytest.mark.parametrize("store", [False, True])
async def test_each_round_sends_the_items_around_the_request_to_go_on(
    upstream, user, settings, store
):
    settings.CHAT_STORE = store
    settings.CHAT_TOOLS = tool_kit.BUILTINS
    upstream.enqueue(
        tool_call_stream([("calculator", {"expression": "6*7"})], summary="Compute it."),
        answer_with_outputs(delay=0),
    )
    claimed = await claimed_continuation(user)
    config = await endpoint.upstream_config()
    runner = TurnRunner(plan=claimed.plan, config=config, resume=resume_of(claimed))
    await runner.run()
    await close_shared_client()
    first, second = [r["json"] for r in upstream.requests if r["method"] == "POST"]
    old = ["reasoning"] if not store else []
    assert kinds(first) == ["user", *old, "assistant", "user"]
    assert first["input"][-1] == {"role": "user", "content": continuation.GO_ON}
    assert kinds(second) == [*kinds(first), *(old and ["reasoning"]), "function_call",
                             "function_call_output"]  # fmt: skip
    assert second["input"][-1]["output"] == "42"
    message = await sync_to_async(Message.objects.get)(pk=claimed.message.pk)
    assert message.status == "completed"
    assert message.text.startswith("Once upon") and message.text.endswith("calculator=42")
