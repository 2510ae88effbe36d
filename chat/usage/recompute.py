"""Re-pricing ledger rows after a price change: only the `price` and `cost` columns change.

Rows are grouped by (reported model, requested model); for each group the applicable price
only changes at some price's `effective_from`, so each stretch between two such dates is one
UPDATE with the cost computed by the database, whatever the number of rows.
"""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Value
from django.db.models.functions import Least

from chat.usage import prices
from chat.usage.models import MONEY, UsageRecord


def recompute(since: datetime) -> int:
    """Re-price every row written at or after `since`; how many rows were updated."""
    known = prices.load_prices()
    rows = UsageRecord.objects.filter(created_at__gte=since)
    pairs = rows.order_by().values_list("model", "requested_model").distinct()
    updated = 0
    with transaction.atomic():
        for model, requested in pairs:
            names = (model, requested)
            edges = sorted({since, *(p.effective_from for p in known if p.effective_from > since)})
            for start, end in zip(edges, [*edges[1:], None], strict=True):
                price = prices.pick(known, names, start)
                stretch = rows.filter(model=model, requested_model=requested, created_at__gte=start)
                if end is not None:
                    stretch = stretch.filter(created_at__lt=end)
                updated += stretch.update(price_id=price.id if price else None, cost=_cost(price))
    return updated


def _cost(price: prices.Price | None):
    """The cost prices.cost_of computes, as SQL: per-million prices times tokens, over 1e6."""
    if price is None:
        return Value(Decimal(0))
    money = DecimalField(**MONEY)
    cached = Least(F("cached_tokens"), F("input_tokens"))
    total = (
        (F("input_tokens") - cached) * Value(price.input, output_field=money)
        + cached * Value(price.cached_input, output_field=money)
        + F("output_tokens") * Value(price.output, output_field=money)
    )
    return ExpressionWrapper(total / Value(prices.MILLION, output_field=money), output_field=money)
