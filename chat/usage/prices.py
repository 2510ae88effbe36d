"""Which list price applies to a ledger row, and what the row costs at it.

A price belongs to a model name from its `effective_from` on. For a row, the candidates are
the prices of the reported model, the requested model, and any name they extend with a dash
by a date (a snapshot "gpt-5-2025-08-07" is priced as "gpt-5", but "gpt-5-mini" is not); the
exact name wins over a snapshot's base name and,
for that name, the latest price in force at the row's time.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from chat import sql
from chat.usage.models import ModelPrice

SNAPSHOT = re.compile(r"-\d{4}(-\d{2}-\d{2}|\d{2}\d{2})?$")  # -2025-08-07, -0613, -20250807
MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Price:
    id: int
    model: str
    effective_from: datetime
    input: Decimal  # USD per million tokens
    cached_input: Decimal
    output: Decimal


def match_rank(name: str, models: tuple[str, ...]) -> int | None:
    """How well a price's model name fits the row's names (higher is better); None: not at all."""
    for position, model in enumerate(models):
        if not model:
            continue
        if model == name:
            return 2000 - position
        if model.startswith(name) and SNAPSHOT.fullmatch(model[len(name) :]):
            return 1000 - position
    return None


def pick(prices: list[Price], models: tuple[str, ...], at: datetime) -> Price | None:
    """The price in force at `at` for the best-matching name."""
    best: tuple[int, datetime] | None = None
    chosen = None
    for price in prices:
        rank = match_rank(price.model, models)
        if rank is None or price.effective_from > at:
            continue
        key = (rank, price.effective_from)
        if best is None or key > best:
            best, chosen = key, price
    return chosen


def load_prices(names: tuple[str, ...] | None = None) -> list[Price]:
    """Every price (the table holds tens of rows), or those of these model names, in one
    plain statement."""
    columns = ("id", "model", "effective_from", "input_per_million")
    columns += ("cached_input_per_million", "output_per_million")
    query, params = f"SELECT {', '.join(columns)} FROM {ModelPrice._meta.db_table}", []
    if names is not None:
        if not names:
            return []
        query += f" WHERE model IN ({', '.join(['%s'] * len(names))})"
        params = list(names)
    rows = sql.execute(query, params)[1]
    prices, read = [], sql.reader(ModelPrice, columns)
    for row in rows:
        pk, model, since, input_, cached, output = read(row)
        prices.append(Price(pk, model, since, input_, input_ if cached is None else cached, output))
    return prices


def candidate_names(models: tuple[str, ...]) -> tuple[str, ...]:
    """The price names that can match these models (match_rank): each name itself, and each
    base it extends by a dated snapshot suffix. A row's pricing reads only their rows: every
    row's decimals and dates decoded was ~1 % of the server's CPU under load (issue 12)."""
    names: dict[str, None] = {}
    for model in models:
        if not model:
            continue
        names[model] = None
        for at, char in enumerate(model):
            if char == "-" and at and SNAPSHOT.fullmatch(model[at:]):
                names[model[:at]] = None
    return tuple(names)


def price_for(models: tuple[str, ...], at: datetime) -> Price | None:
    return pick(load_prices(candidate_names(models)), models, at)


def cost_of(price: Price | None, *, input_tokens: int, cached_tokens: int, output_tokens: int):
    """USD. Cached tokens are part of the input: billed at the cached rate, the rest at the
    input rate. Reasoning tokens are part of the output. Cache writes are input tokens."""
    if price is None:
        return ZERO
    cached = min(cached_tokens, input_tokens)
    total = (
        (input_tokens - cached) * price.input
        + cached * price.cached_input
        + output_tokens * price.output
    )
    # Half up, as PostgreSQL rounds numeric when usage_recompute stores the same sum.
    return (total / MILLION).quantize(Decimal("1e-9"), rounding=ROUND_HALF_UP)
