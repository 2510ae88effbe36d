"""TurnState: the pure accumulator that builds an assistant message from stream events.

Event in, changes out: no I/O, no clock, no Django. Rules (responses-protocol.md §2, §10):
items are addressed by output_index when the server sends it, else by item_id, else by
arrival order; a `.done` value replaces the deltas gathered so far; the terminal
response's `output` is the final truth when present; duplicate sequence numbers (a resumed
stream) are dropped.

This module is the dispatcher; the handlers live by job, below it on the import ladder:
item_list (addressing, changes) <- fields (status, response fields) <- parts (text and
content parts), reasoning, output_items (whole items, the terminal rebuild), hosted_events,
response_events (lifecycle, errors, unknown types), rounds.
"""

from typing import Any

from chat.turns import bounds, hosted_events, output_items, parts, reasoning, response_events
from chat.turns import rounds as round_records
from chat.turns.bounds import MAX_INDEX_GAP as GAP
from chat.turns.bounds import MAX_ITEMS
from chat.turns.fields import (
    CANCELLED,
    FAILED,
    FINAL_STATUSES,
    INCOMPLETE,
    INTERRUPTED,
    QUEUED,
    STREAMING,
    TERMINAL_STATUS,
    TurnFields,
)
from chat.turns.fields import COMPLETED as COMPLETED  # re-exported: the runner's import
from chat.turns.item_list import Changes
from chat.turns.items import DELTA_FIELDS, DONE_FIELDS, Item
from chat.turns.parts import append_delta
from chat.turns.tokens import TokenUsage as TokenUsage  # re-exported for its importers
from chat.upstream.events import MALFORMED, StreamEvent

LIFECYCLE = {"response.created", "response.queued", "response.in_progress"}
STRUCTURE = {
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_part.done",
    "response.output_text.annotation.added",
    "error",
}
# Every event type with a handler (tests/test_event_coverage.py holds the SDK's union to it).
HANDLED_TYPES = frozenset(
    {*DELTA_FIELDS, *DONE_FIELDS, *LIFECYCLE, *TERMINAL_STATUS, *STRUCTURE, MALFORMED}
    | hosted_events.HANDLED
)
MAX_SEQ = 2**31 - 1  # sequence numbers are stored in a 32-bit column


class TurnState(TurnFields):
    @classmethod
    def restore(
        cls,
        *,
        items: list[dict[str, Any]],
        status: str,
        response_id: str | None,
        model: str | None,
        last_seq: int | None,
        background: bool,
        rounds: list[dict[str, Any]] | None = None,
    ) -> "TurnState":
        """Rebuild from a checkpoint, to go on with a resumed stream (events after last_seq).
        `rounds` is every round as stored (the last one is the round being resumed)."""
        state = cls()
        *finished, current = rounds or [{"start": 0}]
        state.rounds = [dict(r) for r in finished]
        state.round_start = min(int(current.get("start") or 0), len(items))
        for data in items[:MAX_ITEMS]:
            state.store(Item.from_dict(data))  # indexes only the current round's items
        state.guard.chars = sum(item.size() for item in state.items)
        state.status, state.response_id, state.model = status, response_id, model
        state.last_seq, state.background = last_seq, background
        state.pending = Changes()
        return state

    # --- rounds (chat/turns/rounds.py) ---
    def round_record(self) -> dict[str, Any]:
        """The current round as stored on the message (and in its ledger row)."""
        return round_records.record(self)

    def all_rounds(self) -> list[dict[str, Any]]:
        return [*self.rounds, self.round_record()]

    def begin_round(self) -> None:
        """The next upstream response goes on into the same message."""
        round_records.begin(self)

    @property
    def text(self) -> str:
        """The answer text: every message's text (a refusal too, so history keeps it),
        messages separated by a blank line."""
        texts = [
            i.text_of("output_text") or i.text_of("refusal")
            for i in self.items
            if i.type == "message"
        ]
        return "\n\n".join(t for t in texts if t)

    @property
    def warnings(self) -> list[str]:
        """Bounded, whatever the number of bad events (one line per kind, with a count)."""
        return self.guard.notes.lines()

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def take_changes(self) -> Changes:
        changes, self.pending = self.pending, Changes()
        changes.warnings = self.guard.take_changed()
        for key in [k for k in changes.appended if k[0] in changes.items]:
            del changes.appended[key]  # the whole item is re-rendered anyway
        return changes

    # --- applying events ---
    def apply(self, event: StreamEvent) -> bool:
        """Fold one event in; True when it added an item or changed the status, which is
        flushed at once (a bounded number of times a turn: MAX_ITEMS + the statuses). All
        else (text, changed items, warnings, no-ops) waits for the next coalesced frame, so
        a flood of any kind of event costs at most one frame per flush interval."""
        seq = event.sequence_number
        if seq is not None and 0 <= seq <= MAX_SEQ:  # out of range reads as absent
            if self.last_seq is not None and seq <= self.last_seq:
                return False
            self.last_seq = seq
        self.events += 1
        self.round_events += 1
        first = self.status == QUEUED
        if first:
            self.set_status(STREAMING)  # the first event goes out at once
        index = event.output_index
        if index is not None and not 0 <= index <= len(self.items) - self.round_start + GAP:
            self.guard.warn(bounds.INDEX, f"output_index {index}")
            return first
        kind = event.type
        if kind in DELTA_FIELDS:
            append_delta(self, event, DELTA_FIELDS[kind])
            return False  # text: coalesced (the runner sends the first token at once)
        items, status = len(self.items), self.status
        self._dispatch(event, kind)
        return first or len(self.items) != items or self.status != status

    def _dispatch(self, event: StreamEvent, kind: str) -> None:
        if kind in DONE_FIELDS:
            parts.replace_text(self, event, *DONE_FIELDS[kind])
        elif kind in LIFECYCLE or kind in TERMINAL_STATUS:
            response_events.lifecycle(self, event)
        elif kind == "response.output_item.added" or kind == "response.output_item.done":
            output_items.item_event(self, event)
        elif kind in ("response.content_part.added", "response.content_part.done"):
            parts.content_part(self, event)
        elif kind in (
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
        ):
            reasoning.summary_part(self, event)
        elif kind == "response.output_text.annotation.added":
            parts.annotation(self, event)
        elif kind == "error":
            response_events.error(self, event)
        elif kind in hosted_events.PROGRESS:
            hosted_events.apply_progress(self, event)
        elif kind in hosted_events.SHELL_EVENTS:
            hosted_events.apply_shell(self, event)
        elif kind == hosted_events.PARTIAL_IMAGE:
            hosted_events.apply_partial_image(self, event)
        elif kind in hosted_events.IGNORED:
            pass
        elif kind == MALFORMED:
            self.guard.warn(bounds.MALFORMED, str(event.message))
        else:
            response_events.unknown(self, event)

    def fail(self, code: str, message: str) -> None:
        """End the turn as failed for a reason found on our side (timeout, broken stream)."""
        if not self.error_code:
            self.error_code, self.error_message = code, message
        self.set_status(FAILED)

    def stop_early(self, reason: str, warning: str) -> None:
        """End as incomplete for a reason of ours (the tool-round limit)."""
        self.incomplete_reason = reason
        self.guard.warn("stopped", warning)
        self.set_status(INCOMPLETE)

    def cut_at_length(self, limit: int | None) -> bool:
        """A round reported `completed` though it used every output token allowed: it was cut
        at the limit (llama.cpp says `completed` there), so it is incomplete for that reason.
        Exactly the limit: a server reporting more did not apply it, so nothing was cut."""
        usage = self.usage
        if not limit or self.status != COMPLETED or usage is None or usage.output_tokens != limit:
            return False
        self.incomplete_reason = "max_output_tokens"
        self.set_status(INCOMPLETE)
        return True

    def cancel(self) -> None:
        self.set_status(CANCELLED)

    def interrupt(self) -> None:
        self.set_status(INTERRUPTED)
