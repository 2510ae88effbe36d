"""Token usage as an upstream response reports it."""

from dataclasses import dataclass
from typing import Any

MAX_COUNT = 2**31 - 1  # the ledger's PositiveIntegerField columns


@dataclass
class TokenUsage:
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int | None = None  # only some servers report it
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0


def usage_from(usage: Any) -> TokenUsage:
    """The counts of a terminal response's `usage` (chat.upstream.events.Usage), each an int
    within 0 .. 2**31 - 1 (a negative or huge count from upstream would fail the ledger's
    write, and price into nonsense)."""
    input_tokens = count(usage.input_tokens)
    output_tokens = count(usage.output_tokens)
    cache_write = usage.detail("input", "cache_write_tokens")
    return TokenUsage(
        input_tokens=input_tokens,
        cached_tokens=count(usage.detail("input", "cached_tokens")),
        cache_write_tokens=None if cache_write is None else count(cache_write),
        output_tokens=output_tokens,
        reasoning_tokens=count(usage.detail("output", "reasoning_tokens")),
        total_tokens=count(usage.total_tokens) or count(input_tokens + output_tokens),
    )


def count(value: Any) -> int:
    """A token count as reported: an int within 0 .. MAX_COUNT, else 0."""
    if type(value) is not int:
        return 0
    return min(max(value, 0), MAX_COUNT)
