"""Budgets: checked before a turn starts (nothing sent upstream when one is used up), a warning
from 80 %, a person's own budget replacing the default, team budgets, calendar months."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Membership, Team
from chat.models import Budget, Conversation, UsageRecord
from chat.turns.plan import TurnRejected, plan_turn
from chat.usage import budgets
from tests import fake_upstream as fake


def spend(user, tokens: int, cost: str = "0", team=None, when=None) -> None:
    UsageRecord.objects.create(
        user=user, username=user.username, team=team, model="m", status="completed",
        input_tokens=tokens, total_tokens=tokens, cost=Decimal(cost),
        created_at=when or timezone.now(),
    )  # fmt: skip


def plan(user, conversation_id=None):
    return plan_turn(user=user, conversation_id=conversation_id, text="hi", model="m")


def ask(*args: str) -> tuple[int, str]:
    err = StringIO()
    try:
        call_command("ask", *args, stdout=StringIO(), stderr=err)
    except SystemExit as exit_:
        return exit_.code, err.getvalue()
    return 0, err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_ask_refuses_a_used_up_budget_and_sends_nothing_upstream(upstream, user):
    Budget.objects.create(scope="user", user=user, monthly_tokens=1000)
    spend(user, 1000)
    code, err = ask("--user", "alice", "hi")
    assert code == 2
    assert "Monthly budget reached: 1,000 of 1,000 tokens of your budget this month." in err
    assert "Nothing was sent." in err
    assert upstream.requests == []
    assert not Conversation.objects.exists()  # nothing half-written


@pytest.mark.django_db(transaction=True)
def test_ask_warns_from_80_percent_and_answers(upstream, user):
    Budget.objects.create(scope="default", monthly_cost=Decimal("10.00"))
    spend(user, 5, cost="8.50")
    upstream.enqueue(fake.text_stream("fine"))
    code, err = ask("--user", "alice", "hi")
    assert code == 0 and len(upstream.requests) == 1
    assert "You have used 85 % of a monthly budget: $8.50 of $10.00 of your budget" in err


@pytest.mark.django_db
def test_own_budget_replaces_the_default_and_last_month_does_not_count(user, other_user):
    Budget.objects.create(scope="default", monthly_tokens=100)
    Budget.objects.create(scope="user", user=other_user, monthly_tokens=10_000)
    spend(user, 100, when=budgets.month_start() - timedelta(seconds=1))  # last month
    spend(other_user, 500)
    assert plan(user).budget_warning == ""
    assert plan(other_user).budget_warning == ""  # 500 of their own 10,000; not the default
    spend(user, 79)
    assert plan(user).budget_warning == ""
    spend(user, 1)
    assert "80 %" in plan(user).budget_warning
    spend(user, 20)
    with pytest.raises(TurnRejected, match="Monthly budget reached: 100 of 100 tokens"):
        plan(user)


@pytest.mark.django_db
def test_a_team_budget_counts_the_whole_team_in_its_conversations(user, other_user):
    team = Team.objects.create(name="Ops")
    Membership.objects.create(team=team, user=user)
    Membership.objects.create(team=team, user=other_user)
    Budget.objects.create(scope="team", team=team, monthly_cost=Decimal("1.00"))
    spend(other_user, 10, cost="0.60", team=team)
    spend(user, 10, cost="0.30", team=team)
    assert "90 %" in plan(user).budget_warning
    mine = Conversation.objects.create(owner=user)
    spend(user, 10, cost="0.10", team=team)
    with pytest.raises(TurnRejected, match="of team Ops's budget"):
        plan(user, mine.pk)
    # A person outside the team, in a conversation not charged to it, is not held back.
    outsider = type(user).objects.create_user(username="carol", password="pw-carol-123")
    assert plan(outsider).budget_warning == ""


@pytest.mark.django_db
def test_budget_statuses_show_what_the_person_page_shows(user):
    Budget.objects.create(scope="user", user=user, monthly_tokens=200, monthly_cost=Decimal("2"))
    spend(user, 50, cost="1.90")
    (status,) = budgets.statuses(user.pk)
    assert (status.percent, status.warning, status.exceeded) == (95, True, False)
    assert status.describe() == "50 of 200 tokens and $1.90 of $2.00 of your budget this month"


@pytest.mark.django_db
def test_the_admin_refuses_a_budget_without_a_limit_or_with_the_wrong_scope(admin_client, user):
    url = "/admin/chat/budget/add/"
    empty = admin_client.post(url, {"scope": "default"})
    assert empty.status_code == 200 and b"Set a monthly token or cost limit" in empty.content
    mismatched = admin_client.post(url, {"scope": "team", "user": user.pk, "monthly_tokens": 5})
    assert mismatched.status_code == 200 and not Budget.objects.exists()
    done = admin_client.post(url, {"scope": "user", "user": user.pk, "monthly_tokens": 5})
    assert done.status_code == 302 and Budget.objects.get().user == user


@pytest.mark.django_db
def test_a_conversation_shared_with_a_team_is_held_to_that_teams_budget(user):
    """Not the person's first team: the one the conversation is shared with, as the ledger
    charges it; a new conversation goes to the first team; budgets read in the order made."""
    first, shared = Team.objects.create(name="First"), Team.objects.create(name="Shared")
    Membership.objects.create(team=first, user=user)
    Membership.objects.create(team=shared, user=user)
    Budget.objects.create(scope="team", team=first, monthly_tokens=1000)
    Budget.objects.create(scope="team", team=shared, monthly_tokens=100)
    Budget.objects.create(scope="default", monthly_tokens=10_000)
    spend(user, 95, team=shared)
    spend(user, 50, team=first)
    conversation = Conversation.objects.create(owner=user, shared_with=shared)
    found = budgets.statuses(user.pk, conversation.pk)
    assert [(s.label, s.tokens_used) for s in found] == [
        ("team Shared's budget", 95),
        ("your budget", 145),
    ]
    assert "95 %" in plan(user, conversation.pk).budget_warning
    assert [s.label for s in budgets.statuses(user.pk)] == ["team First's budget", "your budget"]
    assert plan(user).budget_warning == ""  # 50 of First's 1,000; 145 of the default 10,000
