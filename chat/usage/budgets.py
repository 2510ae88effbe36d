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

from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Membership
from chat.models import Conversation
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
    """The team a turn is charged to, as the ledger decides it (chat/usage/ledger.py)."""
    if conversation_id is not None:
        shared = (
            Conversation.objects.filter(pk=conversation_id)
            .values_list("shared_with_id", flat=True)
            .first()
        )
        if shared is not None:
            return shared
    first = Membership.objects.filter(user_id=user_id).order_by("id").values_list("team_id")
    return next((team for (team,) in first[:1]), None)


def statuses(
    user_id: int, conversation_id: int | None = None, *, now: datetime | None = None
) -> list[BudgetStatus]:
    """The budgets that apply to a person (theirs, else the default) and to the team the
    conversation is charged to (a new conversation: the person's first team)."""
    budgets = list(
        Budget.objects.filter(
            Q(scope=Budget.Scope.DEFAULT) | Q(user_id=user_id) | Q(scope=Budget.Scope.TEAM)
        ).select_related("team")
    )  # team budgets are few; one statement, and none more when there is no budget at all
    if not budgets:
        return []
    team_id = team_for(user_id, conversation_id) if any(b.team_id for b in budgets) else None
    budgets = [b for b in budgets if b.scope != Budget.Scope.TEAM or b.team_id == team_id]
    own = [b for b in budgets if b.scope == Budget.Scope.USER]
    since = month_start(now)
    result = []
    for budget in budgets:
        if budget.scope == Budget.Scope.DEFAULT and own:
            continue  # a person's own budget replaces the default
        result.append(_status(budget, user_id, since))
    return result


def _status(budget: Budget, user_id: int, since: datetime) -> BudgetStatus:
    rows = UsageRecord.objects.filter(created_at__gte=since)
    if budget.scope == Budget.Scope.TEAM:
        rows, label = rows.filter(team_id=budget.team_id), f"team {budget.team.name}'s budget"
    else:
        rows, label = rows.filter(user_id=user_id), "your budget"
    used = rows.aggregate(tokens=Sum("total_tokens"), cost=Sum("cost"))
    return BudgetStatus(
        label,
        budget.monthly_tokens,
        budget.monthly_cost,
        used["tokens"] or 0,
        used["cost"] or Decimal(0),
    )


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
