"""`manage.py usage_benchmark`: seeds the rows asked for in the month asked, times every
grouping, and `--clear` removes exactly the seeded rows."""

from io import StringIO

import pytest
from django.core.management import call_command

from chat.models import UsageRecord
from chat.usage import reports

pytestmark = pytest.mark.django_db


def test_seed_time_and_clear():
    UsageRecord.objects.create(model="kept", status="completed", total_tokens=3)
    out = StringIO()
    call_command(
        "usage_benchmark", "--rows", "300", "--month", "2026-02", "--repeat", "1", stdout=out
    )
    text = out.getvalue()
    assert "Seeded 300 rows" in text and "301 ledger rows, 300 in 2026-02" in text
    for group_by in reports.GROUPS:
        assert f"by {group_by}" in text
    assert "(28 groups, 300 rows" in text  # by day: every day of February has rows
    out = StringIO()
    call_command("usage_benchmark", "--clear", stdout=out)
    assert "Deleted 300 seeded rows." in out.getvalue()
    assert list(UsageRecord.objects.values_list("model", flat=True)) == ["kept"]
