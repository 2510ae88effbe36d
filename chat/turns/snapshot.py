"""A plain copy of a turn's state at one moment: what services store and relays render."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chat.turns.state import TokenUsage, TurnState


@dataclass
class TurnSnapshot:
    status: str
    text: str
    items: list[dict[str, Any]]
    model: str | None = None
    response_id: str | None = None
    background: bool = False
    last_seq: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    incomplete_reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    usage: TokenUsage | None = None
    raw_usage: dict[str, Any] | None = None
    events: int = 0
    # Every round (one upstream response each) so far, the current one last: TurnState.round_record.
    rounds: list[dict[str, Any]] = field(default_factory=list)
    first_event_at: datetime | None = None
    first_token_at: datetime | None = None


def snapshot_of(
    state: TurnState,
    *,
    first_event_at: datetime | None = None,
    first_token_at: datetime | None = None,
) -> TurnSnapshot:
    return TurnSnapshot(
        status=state.status,
        text=state.text,
        items=[item.to_dict() for item in state.items],
        model=state.model,
        response_id=state.response_id,
        background=state.background,
        last_seq=state.last_seq,
        error_code=state.error_code,
        error_message=state.error_message,
        incomplete_reason=state.incomplete_reason,
        warnings=list(state.warnings),
        usage=state.usage,
        raw_usage=state.raw_usage,
        events=state.events,
        rounds=state.all_rounds(),
        first_event_at=first_event_at,
        first_token_at=first_token_at,
    )
