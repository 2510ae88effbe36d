"""Values the database would reject never leave a turn stuck or lose its text (issue 13).

Negative or huge token counts (a CHECK constraint, a 32-bit column), and on PostgreSQL a
model name over 200 characters and a NUL character in a delta or in a person's message.
Run these on PostgreSQL too: DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_bounds.
"""

import pytest
from asgiref.sync import sync_to_async
from django.db import models

from chat.models import Message
from chat.storable import json_value, storable
from chat.usage.models import UsageRecord
from tests import fake_upstream as fake
from tests.test_runner import run_turn, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
WHERE = {"item_id": "m1", "output_index": 0, "content_index": 0}


def stream(*deltas: str, model: str = "fake-model", usage: dict | None = None) -> fake.Reply:
    response = {"id": "resp_1", "status": "in_progress", "model": model, "output": []}
    return fake.events([
        {"type": "response.created", "response": response},
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m1"}},
        *({"type": "response.output_text.delta", **WHERE, "delta": d} for d in deltas),
        {"type": "response.completed", "response": {**response, "status": "completed", "usage": usage}},
    ])  # fmt: skip


async def test_negative_token_counts_are_stored_as_zero(upstream, user):
    usage = {"input_tokens": -5, "output_tokens": -1, "total_tokens": -6,
             "input_tokens_details": {"cached_tokens": -2},
             "output_tokens_details": {"reasoning_tokens": -3}}  # fmt: skip
    upstream.enqueue(stream("Still ", "saved.", usage=usage))
    message, rows = await stored(await run_turn(user))
    assert (message.status, message.text) == ("completed", "Still saved.")
    assert len(rows) == 1
    row = rows[0]
    counts = (row.input_tokens, row.cached_tokens, row.output_tokens, row.reasoning_tokens)
    assert counts == (0, 0, 0, 0) and row.total_tokens == 0


async def test_huge_token_counts_are_clamped_to_the_column(upstream, user):
    usage = {"input_tokens": 2**40, "output_tokens": 2**63 - 1, "total_tokens": 2**62}
    upstream.enqueue(stream("Big numbers.", usage=usage))
    message, rows = await stored(await run_turn(user))
    assert (message.status, message.text) == ("completed", "Big numbers.")
    assert rows[0].input_tokens == rows[0].output_tokens == rows[0].total_tokens == 2**31 - 1


async def test_a_model_name_past_its_column_is_cut(upstream, user):
    upstream.enqueue(stream("Named.", model="m" * 5000))
    message, rows = await stored(await run_turn(user))
    assert (message.status, message.text) == ("completed", "Named.")
    assert message.model == "m" * 200 and rows[0].model == "m" * 200


async def test_a_nul_character_in_a_delta_is_dropped_and_the_text_kept(upstream, user):
    upstream.enqueue(stream("before\x00", "\x00after"))
    message, rows = await stored(await run_turn(user))
    assert (message.status, message.text) == ("completed", "beforeafter")
    assert message.items[0]["parts"][0]["text"] == "beforeafter"
    assert len(rows) == 1


async def test_a_nul_character_in_a_persons_message_is_dropped_on_send(upstream, user):
    upstream.enqueue(stream("Answered."))
    runner = await run_turn(user, text="hello\x00 there")
    question = await sync_to_async(Message.objects.get)(pk=runner.started.user_message_id)
    assert question.text == "hello there"
    assert upstream.requests[-1]["json"]["input"][-1]["content"] == "hello there"
    message, _ = await stored(runner)
    assert message.status == "completed"


def test_storable_cuts_strips_and_clamps_by_the_field():
    model = UsageRecord._meta.get_field("model")
    tokens = UsageRecord._meta.get_field("input_tokens")
    items = Message._meta.get_field("items")
    assert storable(model, "a\x00b" + "c" * 300) == "ab" + "c" * 198
    assert storable(tokens, -3) == 0 and storable(tokens, 2**40) == 2**31 - 1
    assert storable(models.IntegerField(), -(2**40)) == -(2**31)
    assert storable(tokens, None) is None and storable(tokens, True) is True
    assert storable(items, [{"t\x00": ["x\x00", float("nan"), 1.5]}]) == [{"t": ["x", None, 1.5]}]
    assert json_value({"a": ("b\x00",)}) == {"a": ["b"]}
