"""Usage reports against a known ledger: totals equal the sum of the rows, every grouping adds
up to the totals, CSV and `usage_report` show the page's numbers, figures link to their rows,
and a price change is applied by `usage_recompute`."""

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Team
from chat.models import ModelPrice, UsageRecord
from chat.usage import present, prices, reports

pytestmark = pytest.mark.django_db
FIGURES = ("requests", "input", "cached", "output", "reasoning", "total", "cost", "estimated")


def at(day: int, month: int = 3, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture
def known(user, other_user):
    """Eleven rows: two people, two teams and none, three models, across March and one in
    February and one in April (outside the range)."""
    ops, lab = Team.objects.create(name="Ops"), Team.objects.create(name="Lab")
    spec = [
        # (who, team, model, day, input, cached, output, reasoning, cost, estimated)
        (user, ops, "gpt-5", 2, 1000, 200, 300, 100, "0.004", False),
        (user, ops, "gpt-5", 2, 500, 0, 50, 0, "0.0011", False),
        (user, lab, "gpt-5-mini", 9, 800, 800, 20, 0, "0.00006", False),
        (user, None, "smollm2", 10, 40, 0, 400, 0, "0", True),
        (other_user, ops, "gpt-5", 16, 2000, 1000, 900, 300, "0.0103", False),
        (other_user, lab, "gpt-5-mini", 17, 10, 0, 5, 0, "0.0000125", False),
        (other_user, lab, "gpt-5-mini", 23, 7000, 6000, 120, 64, "0.000655", False),
        (other_user, None, "smollm2", 30, 33, 0, 77, 0, "0", True),
        (user, ops, "gpt-5", 31, 1, 0, 1, 0, "0.00001125", False),
        (user, ops, "gpt-5", 28, 100, 0, 100, 0, "0.001", False),  # February
        (user, ops, "gpt-5", 1, 100, 0, 100, 0, "0.001", False),  # April
    ]
    rows = []
    for i, (who, team, model, day, inp, cached, out, reasoning, cost, est) in enumerate(spec):
        month = 2 if i == 9 else 4 if i == 10 else 3
        rows.append(
            UsageRecord(
                user=who,
                username=who.username,
                team=team,
                team_name=team.name if team else "",
                model=model,
                requested_model=model,
                status="completed",
                input_tokens=inp,
                cached_tokens=cached,
                output_tokens=out,
                reasoning_tokens=reasoning,
                total_tokens=inp + out,
                cost=Decimal(cost),
                estimated=est,
                created_at=at(day, month),
            )  # fmt: skip
        )
    UsageRecord.objects.bulk_create(rows)
    return rows[:9]  # the ones in March


MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def expected_totals(rows) -> dict:
    return {
        "requests": len(rows),
        "input": sum(r.input_tokens for r in rows),
        "cached": sum(r.cached_tokens for r in rows),
        "output": sum(r.output_tokens for r in rows),
        "reasoning": sum(r.reasoning_tokens for r in rows),
        "total": sum(r.total_tokens for r in rows),
        "cost": sum((r.cost for r in rows), Decimal(0)),
        "estimated": sum(r.estimated for r in rows),
    }


@pytest.mark.parametrize("group_by", reports.GROUPS)
def test_every_grouping_adds_up_to_the_totals_which_equal_the_rows(known, group_by):
    report = reports.build(*MARCH, group_by)
    assert report.totals == expected_totals(known)
    for figure in FIGURES:
        assert sum(row.figures[figure] for row in report.rows) == report.totals[figure], figure
    assert len({row.label for row in report.rows}) == len(report.rows)


def test_groups_hold_the_right_rows(known):
    by_user = {r.label: r.figures for r in reports.build(*MARCH, "user").rows}
    assert by_user["bob"]["requests"] == 4 and by_user["alice"]["requests"] == 5
    assert by_user["alice"]["cost"] == Decimal("0.00517125")
    by_team = {r.label: r.figures["requests"] for r in reports.build(*MARCH, "team").rows}
    assert by_team == {"(none)": 2, "Lab": 3, "Ops": 4}
    by_week = [(r.label, r.figures["requests"]) for r in reports.build(*MARCH, "week").rows]
    assert by_week[0] == ("week of 2026-03-02", 2) and by_week[-1] == ("week of 2026-03-30", 2)
    by_month = reports.build(date(2026, 2, 1), date(2026, 4, 30), "month").rows
    assert [(r.label, r.figures["requests"]) for r in by_month] == [
        ("2026-02", 1),
        ("2026-03", 9),
        ("2026-04", 1),
    ]


def test_a_deleted_person_keeps_their_line_under_their_name(known, other_user):
    other_user.delete()
    by_user = {r.label: r.figures["requests"] for r in reports.build(*MARCH, "user").rows}
    assert by_user == {"alice": 5, "bob (deleted)": 4}


def test_the_admin_page_shows_the_report_and_each_figure_links_to_its_rows(admin_client, known):
    url = reverse("admin:chat_usagerecord_report")
    page = admin_client.get(
        url, {"since": "2026-03-01", "until": "2026-03-31", "group_by": "model"}
    )
    assert page.status_code == 200
    table = page.context["table"]
    assert [row["label"] for row in table["rows"]] == ["gpt-5", "gpt-5-mini", "smollm2"]
    assert b"<svg" in page.content and b'class="bar"' in page.content
    for row in [*table["rows"], {"label": "Total", "cells": table["totals"]}]:
        requests_cell, estimated_cell = row["cells"][0], row["cells"][-1]
        listed = admin_client.get(requests_cell["href"])
        assert listed.status_code == 200, requests_cell["href"]
        assert listed.context["cl"].result_count == int(requests_cell["text"]), row["label"]
        flagged = admin_client.get(estimated_cell["href"])
        assert flagged.context["cl"].result_count == int(estimated_cell["text"])


def test_csv_is_exactly_the_table_shown(admin_client, known):
    url = reverse("admin:chat_usagerecord_report")
    query = {"since": "2026-03-01", "until": "2026-03-31", "group_by": "team"}
    table = admin_client.get(url, query).context["table"]
    response = admin_client.get(url, {**query, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    shown = [table["headers"]]
    shown += [[row["label"], *(c["text"] for c in row["cells"])] for row in table["rows"]]
    shown.append(["Total", *(c["text"] for c in table["totals"])])
    assert lines == shown
    assert lines[-1][7] == "0.016139"  # the cost column, rounded as on the page


def test_the_page_defaults_to_this_month_and_explains_a_bad_range(admin_client, client, user):
    url = reverse("admin:chat_usagerecord_report")
    page = admin_client.get(url)
    assert page.status_code == 200
    assert (page.context["report"].since, page.context["report"].until) == reports.this_month()
    bad = admin_client.get(url, {"since": "2026-03-10", "until": "2026-03-01"})
    assert bad.status_code == 400 and b"The end date is before the start date." in bad.content
    client.force_login(user)  # not staff: the admin's login page, no report
    assert client.get(url).status_code == 302


def test_usage_report_command_prints_the_same_numbers(known):
    out = StringIO()
    call_command("usage_report", "--since", "2026-03-01", "--until", "2026-03-31",
                 "--group-by", "user", "--format", "json", stdout=out)  # fmt: skip
    printed = json.loads(out.getvalue())
    report = reports.build(*MARCH, "user")
    table = present.table(report)
    assert [r["group"] for r in printed["rows"]] == [r["label"] for r in table["rows"]]
    assert [list(r.values())[1:] for r in printed["rows"]] == [
        [c["text"] for c in r["cells"]] for r in table["rows"]
    ]
    assert list(printed["total"].values()) == [c["text"] for c in table["totals"]]
    text = StringIO()
    call_command("usage_report", "--since", "2026-03-01", "--until", "2026-03-31",
                 "--group-by", "model", stdout=text)  # fmt: skip
    assert "gpt-5-mini" in text.getvalue() and "0.016139" in text.getvalue()
    csv_out = StringIO()
    call_command("usage_report", "--since", "2026-03-01", "--until", "2026-03-31",
                 "--group-by", "model", "--format", "csv", stdout=csv_out)  # fmt: skip
    assert csv_out.getvalue() == present.to_csv(reports.build(*MARCH, "model"))


def test_a_price_change_applies_to_rows_from_its_date_after_recompute(known):
    ModelPrice.objects.create(
        model="gpt-5", effective_from=at(16), input_per_million=Decimal("2"),
        cached_input_per_million=Decimal("0.2"), output_per_million=Decimal("20"),
    )  # fmt: skip
    out = StringIO()
    call_command("usage_recompute", "--since", "2026-03-01", stdout=out)
    assert "Re-priced 10 ledger rows" in out.getvalue()  # March and April
    known_prices = prices.load_prices()
    for row in UsageRecord.objects.all():
        price = prices.pick(known_prices, (row.model, row.requested_model), row.created_at)
        if row.created_at < at(1):
            assert row.cost == Decimal("0.001") and row.price_id is None  # before --since: kept
            continue
        assert row.price_id == (price.id if price else None)
        expected = prices.cost_of(price, input_tokens=row.input_tokens,
                                  cached_tokens=row.cached_tokens, output_tokens=row.output_tokens)  # fmt: skip
        assert row.cost == expected, (row.model, row.created_at)
    late = UsageRecord.objects.get(created_at=at(16))  # 1000 uncached, 1000 cached, 900 output
    assert late.cost == Decimal("0.0202")
    early = UsageRecord.objects.filter(created_at=at(2)).order_by("input_tokens").first()
    assert early.cost == Decimal("0.00112500")  # 500 input at 1.25, 50 output at 10 (seeded)


def test_csv_names_cannot_run_as_spreadsheet_formulas(user):
    UsageRecord.objects.create(
        username="=HYPERLINK(1)", model="m", status="completed", total_tokens=1, created_at=at(5)
    )
    lines = list(csv.reader(io.StringIO(present.to_csv(reports.build(*MARCH, "user")))))
    assert lines[1][0] == "'=HYPERLINK(1) (deleted)"
