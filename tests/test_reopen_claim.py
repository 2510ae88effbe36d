"""One more round of an ended answer (chat/turns/reopen.py), the parts an MCP approval and a
Continue share, on the real database: who may claim it, the budget, the rounds marked billed,
the answer live again under the new runner's lease, the hosted tools and the question."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Team
from chat.models import Budget, Conversation, Message
from chat.turns.plan import TurnRejected
from chat.turns.reopen import check_budget, hosted_tools, locked_conversation, question_of, reopen
from tests.test_usage_budgets import spend

pytestmark = pytest.mark.django_db

REFUSED = "Only the owner may do this."


def test_only_the_owner_gets_the_conversation_locked(user, other_user):
    conversation = Conversation.objects.create(owner=user)
    with transaction.atomic():
        assert locked_conversation(user, conversation.pk, REFUSED) == conversation
    for who, conversation_id in ((other_user, conversation.pk), (user, conversation.pk + 999)):
        with pytest.raises(TurnRejected) as refused:
            locked_conversation(who, conversation_id, REFUSED)
        assert str(refused.value) == REFUSED


def test_a_used_up_budget_refuses_the_next_round_with_its_reason(user):
    check_budget(user, None)  # no budget at all
    Budget.objects.create(scope="user", user=user, monthly_tokens=100)
    spend(user, 100)
    with pytest.raises(TurnRejected) as refused:
        check_budget(user, None)
    assert str(refused.value).startswith("Monthly budget reached: 100 of 100 tokens")


def test_the_budget_is_the_team_the_conversation_is_shared_with(user):
    first, shared = Team.objects.create(name="First"), Team.objects.create(name="Shared")
    Membership.objects.create(team=first, user=user)
    Membership.objects.create(team=shared, user=user)
    conversation = Conversation.objects.create(owner=user, shared_with=shared)
    Budget.objects.create(scope="team", team=shared, monthly_cost=Decimal("1.00"))
    spend(user, 10, cost="1.00", team=shared)
    check_budget(user, Conversation.objects.create(owner=user).pk)  # charged to "First"
    with pytest.raises(TurnRejected, match="of team Shared's budget"):
        check_budget(user, conversation.pk)


@pytest.fixture
def ended(user):
    conversation = Conversation.objects.create(owner=user)
    return Message.objects.create(
        conversation=conversation, role="assistant", status="completed", text="Checked.",
        response_id="resp_2", done_at=timezone.now(), lease_owner="", items=[],
        rounds=[
            {"response_id": "resp_1", "status": "completed", "start": 0, "events": 4},
            {"response_id": "resp_2", "status": "completed", "start": 2, "billed": True},
        ],
    )  # fmt: skip


def test_reopen_marks_every_round_billed_and_makes_the_answer_live(ended, settings):
    settings.TURN_LEASE_SECONDS = 30
    ended.items = [{"type": "mcp_approval_response", "approve": True}]
    ended.text = "not saved: not a column the caller named"
    before = timezone.now()
    reopen(ended, "runner-9", also=("items",))
    stored = Message.objects.get(pk=ended.pk)
    assert stored.rounds == [
        {"response_id": "resp_1", "status": "completed", "start": 0, "events": 4, "billed": True},
        {"response_id": "resp_2", "status": "completed", "start": 2, "billed": True},
    ]
    assert (stored.status, stored.lease_owner, stored.done_at) == ("queued", "runner-9", None)
    assert stored.is_live
    lease = timedelta(seconds=30)
    assert before + lease <= stored.lease_expires_at <= timezone.now() + lease
    assert stored.items == [{"type": "mcp_approval_response", "approve": True}]
    assert stored.text == "Checked."


def test_reopen_of_an_answer_without_stored_rounds_bills_its_one_round(ended, settings):
    settings.TURN_LEASE_SECONDS = 120
    Message.objects.filter(pk=ended.pk).update(rounds=[], status="incomplete")
    ended.refresh_from_db()
    reopen(ended, "runner-9")
    stored = Message.objects.get(pk=ended.pk)
    assert stored.rounds == [
        {"response_id": "resp_2", "status": "incomplete", "start": 0, "billed": True}
    ]
    assert stored.lease_expires_at > timezone.now() + timedelta(seconds=90)


def test_hosted_tools_are_the_offered_ones_the_conversation_left_on(user, settings):
    settings.CHAT_HOSTED_TOOLS = ["web_search", "code_interpreter"]
    conversation = Conversation.objects.create(owner=user, hosted_tools_off=["code_interpreter"])
    assert hosted_tools(conversation) == ("web_search",)
    conversation.hosted_tools_off = None
    assert hosted_tools(conversation) == ("web_search", "code_interpreter")
    settings.CHAT_HOSTED_TOOLS = []
    assert hosted_tools(conversation) == ()


def test_the_question_is_the_last_user_row_above_the_answer():
    rows = [("user", "first", "completed"), ("assistant", "one", "completed"),
            ("user", "second", "completed"), ("assistant", "two", "completed")]  # fmt: skip
    assert question_of(rows) == "second"
    assert question_of([("assistant", "orphan", "completed")]) == ""
    assert question_of([]) == ""
