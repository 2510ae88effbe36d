"""Where a taken-over turn starts again: its last checkpoint, or a new round after an
approval (chat/turns/registry.py builds one; chat/turns/runner.py runs it)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chat.turns.state import TurnState


@dataclass(frozen=True)
class Resume:
    """A background-mode turn taken over after its runner died, from its last checkpoint."""

    message_id: int
    conversation_id: int
    lease_owner: str
    response_id: str
    last_seq: int | None
    items: list[dict[str, Any]]
    model: str
    first_event_at: datetime | None
    first_token_at: datetime | None
    rounds: list[dict[str, Any]] = field(default_factory=list)  # as stored on the message
    # Not a resumed stream but a new round of an ended message (an MCP approval answered):
    # these input items go after the message's items, and a new response is requested.
    then_input: list[dict[str, Any]] | None = None

    def state(self) -> TurnState:
        if self.then_input is not None:
            return TurnState.restore(
                items=self.items, status="streaming", response_id=None, model=self.model,
                last_seq=None, background=False, rounds=[*self.rounds, {"start": len(self.items)}],
            )  # fmt: skip
        if self.last_seq is None:
            return TurnState()  # nothing numbered was kept: replay the stream from its start
        state = TurnState.restore(
            items=self.items, status="streaming", response_id=self.response_id,
            model=self.model, last_seq=self.last_seq, background=True, rounds=self.rounds,
        )  # fmt: skip
        state.response_id = self.response_id
        return state
