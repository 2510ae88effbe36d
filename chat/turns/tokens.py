"""Token usage as an upstream response reports it."""

from dataclasses import dataclass
from typing import Any


@dataclass
class TokenUsage:
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int | None = None  # only some servers report it
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0


def usage_from(usage: Any) -> TokenUsage:
    """The counts of a terminal response's `usage` (chat.upstream.events.Usage)."""
    input_tokens = usage.input_tokens or 0
    output_tokens = usage.output_tokens or 0
    return TokenUsage(
        input_tokens=input_tokens,
        cached_tokens=usage.detail("input", "cached_tokens") or 0,
        cache_write_tokens=usage.detail("input", "cache_write_tokens"),
        output_tokens=output_tokens,
        reasoning_tokens=usage.detail("output", "reasoning_tokens") or 0,
        total_tokens=usage.total_tokens or input_tokens + output_tokens,
    )
