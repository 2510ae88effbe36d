"""Rounds: a turn may span several upstream responses (a tool round, a Continue).

One item list for the whole message, but sequence numbers, output indices, usage and the
terminal `output` belong to one response, so a new round resets them (DESIGN.md, "A turn is
one or more rounds").
"""

from dataclasses import asdict
from typing import Any

from chat.turns.fields import STREAMING, TurnFields


def record(state: TurnFields) -> dict[str, Any]:
    """The current round as stored on the message (and in its ledger row)."""
    return {
        "response_id": state.response_id,
        "status": state.status,
        "start": state.round_start,
        "usage": asdict(state.usage) if state.usage is not None else None,
        "raw_usage": state.raw_usage,
        "events": state.round_events,
    }


def begin(state: TurnFields) -> None:
    """The next upstream response goes on into the same message."""
    state.rounds.append(record(state))
    state.start_addresses(len(state.items))
    state.response_id = None
    state.usage = state.raw_usage = None
    state.incomplete_reason = None
    state.last_seq = None  # sequence numbers restart per response
    state.round_events = 0
    state.set_status(STREAMING)
