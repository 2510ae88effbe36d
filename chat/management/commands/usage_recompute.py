"""`manage.py usage_recompute --since DATE`: re-price ledger rows after a price change."""

from datetime import date, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from chat.usage.recompute import recompute


class Command(BaseCommand):
    help = "Recompute the cost of ledger rows written since DATE from the price table."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="YYYY-MM-DD (site time zone)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = date.fromisoformat(options["since"])
        except ValueError as exc:
            raise CommandError(f"Not a date (YYYY-MM-DD): {options['since']!r}") from exc
        since = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
        count = recompute(since)
        self.stdout.write(f"Re-priced {count:,} ledger rows written since {day}.")
