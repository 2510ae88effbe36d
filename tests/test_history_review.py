"""The transcript review page: every answer's facts, checked against recorded streams."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from accounts.models import ReviewLog
from chat.history import review
from chat.models import Message
from chat.turns import endpoint
from chat.turns.plan import plan_turn
from chat.turns.runner import TurnRunner
from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake
from tests.fixtures import data_lines, expected, fixture_path
from tests.history_factories import conversation, exchange, team_with

CASES = [
    "gpt5_nano_web_search.jsonl",
    "gpt51_codex_max_reasoning_summary_fc.jsonl",
    "gpt5_error_insufficient_quota_stream.jsonl",
    "openrouter_gpt_oss_reasoning_text_stream.jsonl",
]


async def replay(user, name: str) -> int:
    plan = await sync_to_async(plan_turn)(
        user=user, conversation_id=None, text="Tell me", model="asked-model"
    )
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config(), publisher=None)
    try:
        await runner.run()
    finally:
        await close_shared_client()
    return runner.started.assistant_message_id


def terminal_output(name: str) -> list[dict]:
    events = [json.loads(line) for line in data_lines(fixture_path(name))]
    final = next(
        e for e in reversed(events) if e.get("type", "").startswith("response.") and "response" in e
    )
    return final["response"].get("output") or []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", CASES)
async def test_review_figures_match_the_recording(upstream, user, name):
    upstream.enqueue(fake.jsonl_file(name))
    message_id = await replay(user, name)
    truth = expected(name)
    message = await sync_to_async(Message.objects.get)(pk=message_id)
    facts = await sync_to_async(review.answer_facts)(message, "Tell me")
    assert facts.status == truth.status
    assert facts.model_answered == (truth.model or "asked-model")
    assert truth.response_id in facts.response_ids
    if truth.error_code:
        assert facts.error_code == truth.error_code
    if truth.usage:
        (round_,) = facts.rounds
        assert round_.input_tokens == truth.usage["input_tokens"]
        assert round_.output_tokens == truth.usage["output_tokens"]
        assert round_.cached_tokens == (truth.usage.get("input_tokens_details") or {}).get(
            "cached_tokens", 0
        )
        assert round_.reasoning_tokens == (truth.usage.get("output_tokens_details") or {}).get(
            "reasoning_tokens", 0
        )
        generating = (
            (message.done_at - message.first_token_at).total_seconds()
            if message.first_token_at
            else 0
        )
        if generating > 0:
            assert facts.tokens_per_second == round(truth.usage["output_tokens"] / generating, 1)
    output = terminal_output(name)
    calls = [o for o in output if o.get("type") == "function_call"]
    assert [(c.name, c.arguments) for c in facts.tool_calls] == [
        (c["name"], c["arguments"]) for c in calls
    ]
    urls = {
        a["url"] for o in output if o.get("type") == "message"
        for part in o.get("content", []) for a in part.get("annotations", []) if a.get("url")
    }  # fmt: skip
    assert {c["url"] for c in facts.citations} == urls
    # Each recording exercises something: citations, a tool call with reasoning, an error.
    present = {"citations": bool(urls), "calls": bool(calls), "error": bool(truth.error_code)}
    assert any(present.values()) or name.startswith("openrouter")
    summaries = [
        s["text"] for o in output if o.get("type") == "reasoning" for s in o.get("summary", [])
    ]
    assert facts.reasoning == summaries
    if message.first_token_at:
        # The request is opened while the rows are written: a token may beat queued_at (0 then).
        ttft = (message.first_token_at - message.queued_at).total_seconds()
        assert facts.ttft_ms == max(0, int(ttft * 1000))
    duration = (message.done_at - message.queued_at).total_seconds()
    assert facts.duration_ms == max(0, int(duration * 1000))


@pytest.mark.django_db
def test_review_page_shows_the_facts_and_escapes_them(client, user):
    convo = conversation(user, "Reviewed")
    _, answer = exchange(convo, "q", "<script>x</script>", status="failed")
    Message.objects.filter(pk=answer.pk).update(
        error_code="rate_limit", error_message="<b>slow down</b>", response_id="resp_abc",
        items=[{"type": "function_call", "name": "get_weather", "call_id": "c1",
                "arguments": '{"city": "<Paris>"}', "status": "completed"}],
    )  # fmt: skip
    client.force_login(user)
    page = client.get(reverse("history:review", args=[convo.pk])).content.decode()
    assert "resp_abc" in page and "rate_limit" in page and "get_weather" in page
    assert "&lt;b&gt;slow down&lt;/b&gt;" in page and "<b>slow down" not in page
    assert "{&quot;city&quot;: &quot;&lt;Paris&gt;&quot;}" in page
    assert not ReviewLog.objects.exists()  # the owner's own look is not a staff review


@pytest.mark.django_db
def test_review_access_owner_team_and_logged_staff(client, user, other_user, django_user_model):
    team = team_with(user, other_user)
    shared = conversation(other_user, "Shared", shared_with=team)
    private = conversation(other_user, "Private")
    client.force_login(user)
    assert client.get(reverse("history:review", args=[shared.pk])).status_code == 200
    assert client.get(reverse("history:review", args=[private.pk])).status_code == 404
    staff = django_user_model.objects.create_user("root", password="pw-root-123", is_staff=True)
    client.force_login(staff)
    page = client.get(reverse("history:review", args=[private.pk])).content.decode()
    assert 'id="review-banner"' in page
    log = ReviewLog.objects.get()
    assert log.reviewer == staff and log.conversation == private


@pytest.mark.django_db
def test_staff_reach_it_from_the_admin(client, user, django_user_model):
    convo = conversation(user, "Admin path")
    staff = django_user_model.objects.create_superuser("boss", password="pw-boss-123")
    client.force_login(staff)
    listing = client.get(reverse("admin:chat_conversation_changelist")).content.decode()
    assert reverse("history:review", args=[convo.pk]) in listing


@pytest.mark.django_db(transaction=True)
async def test_a_tool_turn_shows_each_round_with_its_usage_cost_and_tool_results(
    upstream, user, settings, client
):
    from tests import tool_kit
    from tests.fake_streams import answer_with_outputs, tool_call_stream

    settings.CHAT_TOOLS = list(tool_kit.BUILTINS)
    upstream.enqueue(
        tool_call_stream(
            [("calculator", {"expression": "6 * 7"})], summary="Compute.", usage=(30, 12)
        ),
        answer_with_outputs(delay=0),
    )
    message_id = await replay(user, "tools")
    message = await sync_to_async(Message.objects.get)(pk=message_id)
    records = await sync_to_async(lambda: sorted(message.usage_records.all(), key=lambda r: r.pk))()
    facts = await sync_to_async(review.answer_facts)(message)
    assert len(facts.rounds) == 2 == len(records)
    first, second = facts.rounds
    assert (first.input_tokens, first.output_tokens) == (30, 12)
    assert [r.response_id for r in facts.rounds] == [r.response_id for r in records]
    assert [r.cost for r in facts.rounds] == [r.cost for r in records]
    assert facts.response_ids == [r.response_id for r in records]  # in round order
    (call,) = facts.tool_calls
    assert call.name == "calculator" and call.result == "42"
    assert facts.reasoning == ["Compute."]
    assert facts.usage_total["input"] == sum(r.input_tokens for r in records)
    await sync_to_async(client.force_login)(user)
    page = (
        await sync_to_async(client.get)(f"/history/c/{message.conversation_id}/review/")
    ).content.decode()
    assert page.count('class="round"') == 2
    for record in records:
        assert record.response_id in page
