"""`manage.py usage_report`: the admin's usage report on the command line, same numbers."""

import json
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.usage import present, reports


class Command(BaseCommand):
    help = "Usage and cost from the ledger, grouped by user, team, model, day, week or month."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=_date, help="first day, YYYY-MM-DD (default: 1st)")
        parser.add_argument("--until", type=_date, help="last day, inclusive (default: month end)")
        parser.add_argument("--group-by", choices=reports.GROUPS, default="user")
        parser.add_argument("--format", choices=("table", "csv", "json"), default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        first, last = reports.this_month()
        since = options["since"] or first
        until = options["until"] or (last if since <= last else since)
        if until < since:
            raise CommandError("--until is before --since.")
        report = reports.build(since, until, options["group_by"])
        if options["format"] == "csv":
            self.stdout.write(present.to_csv(report), ending="")
        elif options["format"] == "json":
            self.stdout.write(json.dumps(_json(report), indent=2))
        else:
            self.stdout.write(_table(report))


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"Not a date (YYYY-MM-DD): {text!r}") from exc


def _json(report: reports.Report) -> dict:
    def figures(values: dict) -> dict:
        return {name: present.cell(name, values[name]) for name in present.HEADERS}

    return {
        "since": str(report.since),
        "until": str(report.until),
        "group_by": report.group_by,
        "rows": [{"group": row.label, **figures(row.figures)} for row in report.rows],
        "total": figures(report.totals),
    }


def _table(report: reports.Report) -> str:
    header = [present.GROUP_NAMES[report.group_by], *present.HEADERS.values()]
    lines = [
        [row.label, *(_shown(n, row.figures[n]) for n in present.HEADERS)] for row in report.rows
    ]
    lines.append(["Total", *(_shown(n, report.totals[n]) for n in present.HEADERS)])
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    out = [f"Usage {report.since} to {report.until}, by {report.group_by}"]
    for line in [header, *lines]:
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells))
    return "\n".join(out)


def _shown(name: str, value: Any) -> str:
    text = present.cell(name, value)
    return text if name == "cost" else f"{int(text):,}"
