"""The usage ledger: every recording's row equals its reported usage, rows are priced when
written, keep their names after deletions, and the admin cannot edit them."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from accounts.models import Membership, Team
from chat.models import Conversation, Message, ModelPrice, UsageRecord
from chat.turns.snapshot import TurnSnapshot
from chat.turns.state import TokenUsage
from chat.usage import prices
from chat.usage.ledger import record_usage
from tests import fake_upstream as fake
from tests.fixtures import JSONL, NOT_RESPONSES, RAW_SSE, expected
from tests.test_runner import run_turn


def price(model, since="2025-01-01", input_="1", cached="0.1", output="10"):
    return ModelPrice.objects.create(
        model=model,
        effective_from=datetime.fromisoformat(since).replace(tzinfo=UTC),
        input_per_million=Decimal(input_),
        cached_input_per_million=Decimal(cached),
        output_per_million=Decimal(output),
    )


def answer(user, title="Budget talk", **conversation):
    convo = Conversation.objects.create(owner=user, title=title, **conversation)
    return Message.objects.create(conversation=convo, role="assistant", model="gpt-5")


def snapshot(**usage) -> TurnSnapshot:
    values = {"input_tokens": 1000, "cached_tokens": 400, "output_tokens": 200}
    values |= {"reasoning_tokens": 50, "total_tokens": 1200} | usage
    return TurnSnapshot(
        status="completed", text="hi", items=[], model="gpt-5-2025-08-07",
        response_id="resp_1", events=3, usage=TokenUsage(**values), raw_usage={"x": 1},
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", [n for n in JSONL + RAW_SSE if n not in NOT_RESPONSES])
async def test_each_recording_leaves_a_row_equal_to_its_reported_usage(upstream, user, name):
    upstream.enqueue(fake.jsonl_file(name) if name.endswith(".jsonl") else fake.sse_file(name))
    runner = await run_turn(user)
    rows = await sync_to_async(list)(
        UsageRecord.objects.filter(message_id=runner.started.assistant_message_id)
    )
    truth = expected(name)
    assert len(rows) == 1
    row = rows[0]
    assert (row.requested_model, row.username, row.conversation_title) == (
        "test-model",
        "alice",
        "hi",
    )
    if not truth.usage:
        assert row.estimated  # it ran but reported nothing: our estimate, flagged
        return
    usage = truth.usage
    assert not row.estimated and row.model == truth.model
    assert row.input_tokens == usage["input_tokens"]
    assert row.output_tokens == usage["output_tokens"]
    assert row.total_tokens == usage["total_tokens"]
    assert row.cached_tokens == (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens", 0)
    assert row.reasoning_tokens == reasoning
    assert row.input_tokens + row.output_tokens == row.total_tokens  # cached never added twice
    # The seeded list price of the reported model (or of its base name) applies.
    expected_price = await sync_to_async(prices.price_for)(
        (row.model, "test-model"), row.created_at
    )
    assert row.price_id == (expected_price.id if expected_price else None)
    assert row.cost == prices.cost_of(
        expected_price,
        input_tokens=row.input_tokens,
        cached_tokens=row.cached_tokens,
        output_tokens=row.output_tokens,
    )


@pytest.mark.django_db
def test_cost_uses_the_cached_rate_for_cached_input_and_the_price_in_force(user):
    ModelPrice.objects.all().delete()
    old = price("gpt-5", "2025-01-01", "1", "0.1", "10")
    new = price("gpt-5", "2025-06-01", "2", "0.2", "20")
    price("gpt-5-mini", "2024-01-01", "100", "100", "100")  # another model: never matches
    message = answer(user)
    before = record_usage(message=message, snapshot=snapshot(), at=datetime(2025, 3, 1, tzinfo=UTC))
    after = record_usage(message=message, snapshot=snapshot(), at=datetime(2025, 7, 1, tzinfo=UTC))
    # 600 uncached input at 1, 400 cached at 0.1, 200 output at 10 (reasoning is inside output)
    assert before.price_id == old.pk and before.cost == Decimal("0.00264")
    assert after.price_id == new.pk and after.cost == Decimal("0.00528")
    assert before.requested_model == "gpt-5" and before.model == "gpt-5-2025-08-07"
    unpriced = record_usage(
        message=message, snapshot=snapshot(), at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert unpriced.price_id is None and unpriced.cost == 0


def test_a_base_name_prices_its_dated_snapshots_only():
    assert prices.match_rank("gpt-5", ("gpt-5-2025-08-07", "")) is not None
    assert prices.match_rank("gpt-4", ("gpt-4-0613", "")) is not None
    assert prices.match_rank("gpt-5", ("gpt-5-mini", "")) is None
    assert prices.match_rank("gpt-5", ("gpt-5-mini-2025-08-07", "")) is None
    assert prices.match_rank("gpt-5", ("gpt-5", "")) > prices.match_rank("gpt-5", ("x", "gpt-5"))


MODEL_NAMES = [
    "gpt-5", "gpt-5-2025-08-07", "gpt-5-mini", "gpt-5-mini-2025-08-07", "gpt-4-0613",
    "gpt-4-20240613", "a-1234-5678", "o3", "o3-2025-04-16", "-2025", "x--2025", "",
    "gpt-5-2025-08-07-2025-08-07", "smollm2",
]  # fmt: skip


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_the_candidate_names_are_exactly_the_prefixes_a_price_can_match(model):
    """Pricing reads only the candidates' rows: every name match_rank accepts must be one."""
    models = (model, "")
    matching = {model[:end] for end in range(1, len(model) + 1)}
    matching = {n for n in matching if prices.match_rank(n, models) is not None}
    assert matching == set(prices.candidate_names(models))


@pytest.mark.django_db
@pytest.mark.parametrize("reported", MODEL_NAMES)
def test_pricing_from_the_candidates_rows_picks_what_every_row_would(reported):
    for model in ("gpt-5", "gpt-5-2025-08-07", "gpt-5-mini", "o3", "a-1234", "x-"):
        price(model, since="2025-02-01", input_=str(len(model)))  # the seeded rows: 2025-01-01
        price(model, since="2025-06-01", input_=str(len(model) + 100))
    for requested in ("gpt-5", "o3", ""):
        for at in (datetime(2025, d, 1, tzinfo=UTC) for d in (1, 3, 9)):
            models = (reported, requested)
            expected = prices.pick(prices.load_prices(), models, at)
            assert prices.price_for(models, at) == expected


@pytest.mark.django_db
def test_the_row_is_charged_to_the_shared_team_else_the_owners_first_team(user):
    first, second = Team.objects.create(name="Ops"), Team.objects.create(name="Research")
    Membership.objects.create(team=first, user=user)
    Membership.objects.create(team=second, user=user)
    shared = record_usage(message=answer(user, shared_with=second), snapshot=snapshot())
    private = record_usage(message=answer(user), snapshot=snapshot())
    assert (shared.team_id, shared.team_name) == (second.pk, "Research")
    assert (private.team_id, private.team_name) == (first.pk, "Ops")


@pytest.mark.django_db
@pytest.mark.parametrize("shared", [True, False])
def test_a_finished_turns_row_keeps_the_same_names_and_team_as_a_recorded_one(user, shared):
    """finish_turn reads the names with the stored answer (one statement less); the row is the
    one record_usage writes from its own read."""
    from chat.turns.save import finish_turn

    first, second = Team.objects.create(name="Ops"), Team.objects.create(name="Research")
    Membership.objects.create(team=first, user=user)
    Membership.objects.create(team=second, user=user)
    live = answer(user, title="Secret plan", shared_with=second if shared else None)
    Message.objects.filter(pk=live.pk).update(status="streaming")
    (finished,) = finish_turn(message_id=live.pk, snapshot=snapshot()).prefetched_usage
    recorded = record_usage(message=live, snapshot=snapshot())
    columns = ("user_id", "username", "conversation_title", "team_id", "team_name")
    assert [getattr(finished, c) for c in columns] == [getattr(recorded, c) for c in columns]
    team = second if shared else first
    assert [getattr(finished, c) for c in columns] == [
        user.pk,
        user.username,
        "Secret plan",
        team.pk,
        team.name,
    ]


@pytest.mark.django_db
def test_deleting_conversation_message_user_and_team_keeps_the_ledger(user, other_user):
    team = Team.objects.create(name="Ops")
    Membership.objects.create(team=team, user=user)
    kept = record_usage(message=answer(user, title="Secret plan"), snapshot=snapshot())
    other = record_usage(message=answer(other_user), snapshot=snapshot())
    Message.objects.filter(pk=kept.message_id).delete()
    Conversation.objects.filter(pk=kept.conversation_id).delete()
    team.delete()
    user.delete()
    row = UsageRecord.objects.get(pk=kept.pk)
    assert (row.message_id, row.conversation_id, row.user_id, row.team_id) == (None,) * 4
    assert (row.username, row.team_name, row.conversation_title) == ("alice", "Ops", "Secret plan")
    assert (row.total_tokens, row.cost) == (kept.total_tokens, kept.cost)
    other_user.delete()  # deleting a person deletes their conversations, never their rows
    assert (
        UsageRecord.objects.count() == 2 and UsageRecord.objects.get(pk=other.pk).username == "bob"
    )


@pytest.mark.django_db
def test_the_admin_shows_the_ledger_but_cannot_add_change_or_delete_it(admin_client, user):
    row = record_usage(message=answer(user), snapshot=snapshot())
    changelist = reverse("admin:chat_usagerecord_changelist")
    assert admin_client.get(changelist).status_code == 200
    assert admin_client.get(reverse("admin:chat_usagerecord_add")).status_code == 403
    change = reverse("admin:chat_usagerecord_change", args=[row.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and b'name="total_tokens"' not in page.content  # view only
    assert admin_client.post(change, {"total_tokens": 1}).status_code == 403
    delete = reverse("admin:chat_usagerecord_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    admin_client.post(changelist, bulk)
    assert UsageRecord.objects.get(pk=row.pk).total_tokens == 1200
