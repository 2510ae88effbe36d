"""Showing a report: the table's cells, the same cells as CSV, and a server-rendered SVG chart
(no script, no library: bars with titles, each a link to its ledger rows)."""

import csv
import io
from decimal import Decimal
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from chat.usage.reports import Report, Row

HEADERS = {
    "requests": "Requests",
    "input": "Input tokens",
    "cached": "Cached (of input)",
    "output": "Output tokens",
    "reasoning": "Reasoning (of output)",
    "total": "Total tokens",
    "cost": "Cost (USD)",
    "estimated": "Estimated rows",
}
GROUP_NAMES = {
    "user": "Person",
    "team": "Team",
    "model": "Model",
    "day": "Day",
    "week": "Week",
    "month": "Month",
}


def cell(name: str, value) -> str:
    """A figure as both the page and the CSV show it."""
    if name == "cost":
        return f"{Decimal(value):.6f}"  # USD to the millionth: one short answer costs that much
    return str(value)


def budget_notice_frame(warning: str) -> str:
    """The chat page's budget line (from 80 % of a budget; empty clears it), swapped by id."""
    return format_html(
        '<div id="budget-notice" class="budget-notice" role="status">{}</div>', warning
    )


def rows_link(report: Report, row: Row | None, figure: str = "") -> str:
    """The admin's ledger list narrowed to the rows behind a figure (estimated ones only for
    the "Estimated rows" column)."""
    query = dict(report.range_filters)
    if row is not None:
        query.update(row.filters)
    if figure == "estimated":
        query["estimated__exact"] = "1"
    return reverse("admin:chat_usagerecord_changelist") + "?" + urlencode(query)


def table(report: Report) -> dict:
    """Headers and cells for the template, each cell with the link to its rows."""

    def cells(row: Row | None, figures: dict) -> list[dict]:
        return [
            {"text": cell(name, figures[name]), "href": rows_link(report, row, name)}
            for name in HEADERS
        ]

    return {
        "headers": [GROUP_NAMES[report.group_by], *HEADERS.values()],
        "rows": [{"label": row.label, "cells": cells(row, row.figures)} for row in report.rows],
        "totals": cells(None, report.totals),
    }


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([GROUP_NAMES[report.group_by], *HEADERS.values()])
    for row in report.rows:
        writer.writerow([_csv_safe(row.label), *(cell(n, row.figures[n]) for n in HEADERS)])
    writer.writerow(["Total", *(cell(n, report.totals[n]) for n in HEADERS)])
    return out.getvalue()


def _csv_safe(text: str) -> str:
    """Names come from people: a leading = + - @ would run as a formula in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 64, 28, 12


def chart(report: Report, metric: str, *, links: bool = True) -> SafeString:
    """Bars of cost or total tokens per period of `report` (grouped by day, week or month)."""
    name = "cost" if metric == "cost" else "total"
    values = [Decimal(row.figures[name]) for row in report.rows]
    if not values:
        return format_html('<p class="usage-chart-empty">{}</p>', "No usage in this range.")
    top = max(values) or Decimal(1)
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / len(values)
    parts = [_axis(top, name, plot_h)]
    for i, (row, value) in enumerate(zip(report.rows, values, strict=True)):
        height = float(value / top) * plot_h
        x, y = LEFT + i * step, TOP + plot_h - height
        width = min(max(step * 0.8, 1), 48)
        bar = format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" class="bar"><title>{}: {}</title></rect>',
            _n(x + (step - width) / 2), _n(y), _n(width), _n(height),
            row.label, _money(value) if name == "cost" else f"{int(value):,} tokens",
        )  # fmt: skip
        link = rows_link(report, row)
        parts.append(format_html('<a href="{}">{}</a>', link, bar) if links else bar)
    for i in sorted({0, len(values) // 2, len(values) - 1}):
        parts.append(
            format_html(
                '<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>',
                _n(LEFT + (i + 0.5) * step),
                HEIGHT - 8,
                report.rows[i].label,
            )  # fmt: skip
        )
    label = "Cost (USD)" if name == "cost" else "Total tokens"
    return mark_safe(
        f'<svg class="usage-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)} per {escape(report.group_by)}">' + "".join(parts) + "</svg>"
    )


def _axis(top: Decimal, name: str, plot_h: int) -> str:
    lines = []
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h - fraction * plot_h
        value = top * Decimal(str(fraction))
        text = _money(value) if name == "cost" else f"{int(value):,}"
        lines.append(
            format_html(
                '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"></line>'
                '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
                LEFT,
                WIDTH - 8,
                _n(y),
                _n(y),
                LEFT - 6,
                _n(y + 4),
                text,
            )  # fmt: skip
        )
    return "".join(lines)


def _n(number: float) -> str:
    return f"{number:.1f}"


def _money(value: Decimal) -> str:
    return f"${value:,.6f}" if value < 1 else f"${value:,.2f}"
