"""Reasoning options on requests, and encrypted reasoning carried back when store is false."""

import pytest

from tests import fake_upstream as fake
from tests import tool_kit
from tests.fake_streams import answer_with_outputs, tool_call_stream
from tests.test_runner import run_turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


async def run(user, model: str, **kwargs):
    return await run_turn(user, model=model, **kwargs)


async def test_reasoning_models_get_summaries_and_the_configured_effort(upstream, user, settings):
    settings.CHAT_REASONING_EFFORT = "low"
    upstream.enqueue(fake.text_stream("a", delay=0), fake.text_stream("b", delay=0))
    await run(user, "gpt-5-mini")
    await run(user, "llama3.2")
    reasoning, plain = upstream.posted()
    assert reasoning["reasoning"] == {"effort": "low", "summary": "auto"}
    assert "reasoning" not in plain and "include" not in plain and "store" not in plain


async def test_without_store_encrypted_reasoning_goes_back_in_later_rounds_and_turns(
    upstream, user, settings
):
    settings.CHAT_STORE = False
    settings.CHAT_TOOLS = tool_kit.BUILTINS
    upstream.enqueue(
        tool_call_stream([("calculator", {"expression": "2+2"})], summary="Add them."),
        answer_with_outputs(delay=0),
        fake.text_stream("bye", delay=0),
    )
    first = await run(user, "o4-mini", text="2+2?")
    await run(user, "o4-mini", text="thanks", conversation_id=first.started.conversation_id)
    round_one, round_two, next_turn = upstream.posted()
    assert round_one["store"] is False
    assert round_one["include"] == ["reasoning.encrypted_content"]
    for body in (round_two, next_turn):
        kinds = [i.get("type") or i["role"] for i in body["input"]]
        assert kinds[:4] == ["user", "reasoning", "function_call", "function_call_output"]
        reasoning = body["input"][1]
        assert reasoning["encrypted_content"].startswith("enc-resp_tool_")
        assert reasoning["summary"] == [{"type": "summary_text", "text": "Add them."}]
    assert next_turn["input"][-1] == {"role": "user", "content": "thanks"}
