"""Usage reports: one database aggregation over the ledger, grouped by person, team, model or
period, with totals. The admin page, its CSV and `manage.py usage_report` all print this."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from chat.usage.models import UsageRecord

GROUPS = ("user", "team", "model", "day", "week", "month")
PERIODS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
FIGURES = ("requests", "input", "cached", "output", "reasoning", "total", "cost", "estimated")
COLUMNS = {
    "requests": Count("id"),
    "input": Sum("input_tokens"),
    "cached": Sum("cached_tokens"),
    "output": Sum("output_tokens"),
    "reasoning": Sum("reasoning_tokens"),
    "total": Sum("total_tokens"),
    "cost": Sum("cost"),
    "estimated": Count("id", filter=Q(estimated=True)),
}


@dataclass
class Row:
    label: str
    filters: dict[str, str]  # the admin changelist lookups that select this row's ledger rows
    figures: dict[str, Any]


@dataclass
class Report:
    since: date
    until: date  # inclusive
    group_by: str
    rows: list[Row] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def range_filters(self) -> dict[str, str]:
        start, end = bounds(self.since, self.until)
        return {"created_at__gte": start.isoformat(), "created_at__lt": end.isoformat()}


def bounds(since: date, until: date) -> tuple[datetime, datetime]:
    """[start of `since`, start of the day after `until`) in the site's time zone."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(since, time.min, tzinfo=zone)
    return start, datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone)


def this_month(today: date | None = None) -> tuple[date, date]:
    today = today or timezone.localdate()
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def ledger(since: date, until: date) -> QuerySet[UsageRecord]:
    start, end = bounds(since, until)
    return UsageRecord.objects.filter(created_at__gte=start, created_at__lt=end)


def build(since: date, until: date, group_by: str, *, queryset: QuerySet | None = None) -> Report:
    """The report; `queryset` narrows the ledger further (a person's own page)."""
    if group_by not in GROUPS:
        raise ValueError(f"group by one of {', '.join(GROUPS)}")
    rows = (queryset if queryset is not None else UsageRecord.objects.all()) & ledger(since, until)
    report = Report(since, until, group_by)
    keys, order = _keys(group_by)
    if group_by in PERIODS:
        rows = rows.annotate(period=PERIODS[group_by]("created_at"))
    grouped = rows.order_by().values(*keys).annotate(**COLUMNS).order_by(*order)
    with transaction.atomic():
        _no_jit()
        grouped = list(grouped)
    start, end = bounds(since, until)
    report.rows = [_row(group_by, values, start, end) for values in grouped]
    # The totals are the groups' sums (every row is in exactly one group): one scan, not two.
    report.totals = {
        name: sum((row.figures[name] for row in report.rows), Decimal(0) if name == "cost" else 0)
        for name in FIGURES
    }
    return report


def _no_jit() -> None:
    """PostgreSQL compiles these aggregations to machine code first (JIT): ~200 ms spent to save
    less, on a month of a million rows. Off for this one transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def _keys(group_by: str) -> tuple[list[str], list[str]]:
    if group_by in PERIODS:
        return ["period"], ["period"]
    if group_by == "user":
        return ["user_id", "username"], ["username", "user_id"]
    if group_by == "team":
        return ["team_id", "team_name"], ["team_name", "team_id"]
    return ["model"], ["model"]


def _row(group_by: str, values: dict[str, Any], since: datetime, until: datetime) -> Row:
    figures = _clean({name: values[name] for name in FIGURES})
    if group_by in PERIODS:
        start = timezone.localtime(values["period"])
        label = _period_label(group_by, start)
        # A week or month may start before the range or end after it: link to its part in it.
        end = min(_period_end(group_by, start), until)
        start = max(start, since)
        filters = {"created_at__gte": start.isoformat(), "created_at__lt": end.isoformat()}
        return Row(label, filters, figures)
    if group_by == "model":
        return Row(values["model"], {"model": values["model"]}, figures)
    key, name = ("user_id", "username") if group_by == "user" else ("team_id", "team_name")
    ident, text = values[key], values[name]
    if ident is None:
        label = f"{text} (deleted)" if text else "(none)"
        filters = {f"{key[:-3]}__isnull": "True", name: text}
    else:
        label, filters = text, {f"{key}__exact": str(ident)}
    return Row(label, filters, figures)


def _period_label(group_by: str, start: datetime) -> str:
    if group_by == "month":
        return f"{start:%Y-%m}"
    if group_by == "week":
        return f"week of {start:%Y-%m-%d}"
    return f"{start:%Y-%m-%d}"


def _period_end(group_by: str, start: datetime) -> datetime:
    if group_by == "day":
        return start + timedelta(days=1)
    if group_by == "week":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """Sums of no rows are None: zero. Cost exact to the ledger's precision (1e-9 USD); pages
    and files round it when they show it (chat/usage/present.py)."""
    out = {name: values.get(name) or 0 for name in FIGURES}
    out["cost"] = Decimal(out["cost"]).quantize(Decimal("1e-9"))
    return out
