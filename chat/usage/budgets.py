"""Monthly budgets, checked before a turn starts.

Spending is counted from the ledger itself (a SUM over this calendar month's rows), never
from a separate counter: every process writes its rows with one INSERT, so nothing can be
lost between processes or under concurrent turns, and the figure equals the reports'. The
check is a gate, not a reservation: a turn that starts under the limit runs to its end (its
cost is not known before), so the overshoot is at most the turns already running.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from accounts.models import Team
from chat import sql
from chat.models import Conversation
from chat.usage import ledger
from chat.usage.models import Budget, UsageRecord

WARN_AT = Decimal("0.8")


class OverBudget(Exception):
    """A budget is used up; the message says which and until when."""


@dataclass(frozen=True)
class BudgetStatus:
    label: str  # "your budget", "team Ops's budget", ...
    tokens_limit: int | None
    cost_limit: Decimal | None
    tokens_used: int
    cost_used: Decimal

    @property
    def fraction(self) -> Decimal:
        """The larger share used of the limits set (1 = all used)."""
        shares = [Decimal(0)]
        if self.tokens_limit is not None:
            shares.append(Decimal(self.tokens_used) / max(self.tokens_limit, 1))
        if self.cost_limit is not None:
            shares.append(self.cost_used / max(self.cost_limit, Decimal("0.000000001")))
        return max(shares)

    @property
    def percent(self) -> int:
        return int(self.fraction * 100)

    @property
    def exceeded(self) -> bool:
        return self.fraction >= 1

    @property
    def warning(self) -> bool:
        return WARN_AT <= self.fraction < 1

    def describe(self) -> str:
        parts = []
        if self.tokens_limit is not None:
            parts.append(f"{self.tokens_used:,} of {self.tokens_limit:,} tokens")
        if self.cost_limit is not None:
            parts.append(f"${self.cost_used:,.2f} of ${self.cost_limit:,.2f}")
        return f"{' and '.join(parts)} of {self.label} this month"


def month_start(now: datetime | None = None) -> datetime:
    now = timezone.localtime(now or timezone.now())
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def team_for(user_id: int, conversation_id: int | None) -> int | None:
    """The team a turn is charged to, as the ledger decides it, in one statement."""
    shared, params = "NULL", [user_id]
    if conversation_id is not None:
        table = Conversation._meta.db_table
        shared, params = (
            f"(SELECT shared_with_id FROM {table} WHERE id = %s)",
            [conversation_id, user_id],
        )
    return sql.execute(f"SELECT {ledger.charged_team(shared, '%s')}", params)[1][0][0]


@dataclass(frozen=True)
class _Rule:
    """A budget row as the check reads it."""

    scope: str
    team_id: int | None
    team_name: str
    tokens: int | None
    cost: Decimal | None


def _rules(user_id: int) -> list[_Rule]:
    """Every budget that may apply to the person: the default, theirs, and the teams' (few),
    in one plain statement: this runs before every turn (chat/sql.py says why)."""
    budget, team = Budget._meta.db_table, Team._meta.db_table
    query = (
        f"SELECT b.scope, b.team_id, t.name, b.monthly_tokens, b.monthly_cost FROM {budget} b "
        f"LEFT JOIN {team} t ON t.id = b.team_id "
        "WHERE b.scope IN (%s, %s) OR b.user_id = %s ORDER BY b.id"
    )
    rows = sql.execute(query, [Budget.Scope.DEFAULT, Budget.Scope.TEAM, user_id])[1]
    return [
        _Rule(scope, team_id, name or "", tokens, sql.from_db(Budget, "monthly_cost", cost))
        for scope, team_id, name, tokens, cost in rows
    ]


def statuses(
    user_id: int, conversation_id: int | None = None, *, now: datetime | None = None
) -> list[BudgetStatus]:
    """The budgets that apply to a person (theirs, else the default) and to the team the
    conversation is charged to (a new conversation: the person's first team)."""
    rules = _rules(user_id)  # none at all: one statement, and nothing more
    if not rules:
        return []
    team_id = team_for(user_id, conversation_id) if any(r.team_id for r in rules) else None
    rules = [r for r in rules if r.scope != Budget.Scope.TEAM or r.team_id == team_id]
    own = any(r.scope == Budget.Scope.USER for r in rules)
    since = month_start(now)
    return [
        _status(rule, user_id, since)
        for rule in rules
        if not (rule.scope == Budget.Scope.DEFAULT and own)  # their own replaces the default
    ]


def _status(rule: _Rule, user_id: int, since: datetime) -> BudgetStatus:
    """What the ledger holds this month for the budget's team, or for the person."""
    db, table = sql.database(), UsageRecord._meta.db_table
    start = UsageRecord._meta.get_field("created_at").get_db_prep_value(since, db)
    if rule.scope == Budget.Scope.TEAM:
        who, whose, label = "team_id", rule.team_id, f"team {rule.team_name}'s budget"
    else:
        who, whose, label = "user_id", user_id, "your budget"
    query = (
        f"SELECT SUM(total_tokens), SUM(cost) FROM {table} WHERE created_at >= %s AND {who} = %s"
    )
    ((tokens, cost),) = sql.execute(query, [start, whose])[1]
    cost = sql.from_db(UsageRecord, "cost", cost) if cost is not None else None
    return BudgetStatus(label, rule.tokens, rule.cost, tokens or 0, cost or Decimal(0))


def check(*, user_id: int, conversation_id: int | None) -> str:
    """Raise OverBudget if a budget is used up; else a warning from 80 % ("" if none)."""
    found = statuses(user_id, conversation_id)
    for status in found:
        if status.exceeded:
            resets = f"{next_month(month_start()):%-d %B}"
            raise OverBudget(
                f"Monthly budget reached: {status.describe()}. Nothing was sent. "
                f"It resets on {resets}; an admin can raise it."
            )
    warnings = [s for s in found if s.warning]
    if not warnings:
        return ""
    worst = max(warnings, key=lambda s: s.fraction)
    return f"You have used {worst.percent} % of a monthly budget: {worst.describe()}."
