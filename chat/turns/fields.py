"""What the accumulator holds beside the items: the status, the current response's id,
model, usage and error, and the finished rounds.

A rung between chat/turns/item_list.py and chat/turns/state.py, so the handlers of whole
responses (response_events, rounds, faults) take it without importing the state.
"""

from typing import Any

from chat.turns import bounds
from chat.turns.item_list import ItemList
from chat.turns.tokens import TokenUsage
from chat.upstream import errors

QUEUED, STREAMING, COMPLETED, INCOMPLETE, FAILED, CANCELLED, INTERRUPTED = (
    "queued",
    "streaming",
    "completed",
    "incomplete",
    "failed",
    "cancelled",
    "interrupted",
)
FINAL_STATUSES = frozenset({COMPLETED, INCOMPLETE, FAILED, CANCELLED, INTERRUPTED})
TERMINAL_STATUS = {
    "response.completed": COMPLETED,
    "response.incomplete": INCOMPLETE,
    "response.failed": FAILED,
}


class TurnFields(ItemList):
    def __init__(self) -> None:
        super().__init__()
        self.status = QUEUED
        self.response_id: str | None = None
        self.model: str | None = None
        self.usage: TokenUsage | None = None
        self.raw_usage: dict[str, Any] | None = None
        self.error_code: str | None = None
        self.error_message: str | None = None
        self.error_detail: str | None = None  # the server's own words: for the log only
        self.incomplete_reason: str | None = None
        self.background = False
        self.last_seq: int | None = None
        self.events = 0
        self.rounds: list[dict[str, Any]] = []  # the finished rounds (rounds.record())
        self.round_events = 0

    def set_status(self, status: str) -> None:
        if self.status != status:
            self.status = status
            self.pending.status = True

    def set_error(self, code: Any, message: Any) -> None:
        """The code if it is a plain identifier; our words for it (errors.describe), never
        the server's text, which is kept only for the log (error_detail)."""
        code = errors.safe_code(code) or self.error_code or "error"
        if (code, self.error_message) == (self.error_code, errors.describe(None, code)):
            return
        self.error_code, self.error_message = code, errors.describe(None, code)
        self.error_detail = bounds.message(message) or self.error_detail
        self.pending.status = True
