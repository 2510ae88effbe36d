"""TurnState: the pure accumulator that builds an assistant message from stream events.

Event in, changes out: no I/O, no clock, no Django. Rules (responses-protocol.md §2, §10):
items are addressed by output_index when the server sends it, else by item_id, else by
arrival order; a `.done` value replaces the deltas gathered so far; the terminal
response's `output` is the final truth when present; duplicate sequence numbers (a resumed
stream) are dropped.

A turn may span several upstream responses ("rounds": a tool round, a Continue): one item
list for the whole message, but sequence numbers, output indices and the terminal `output`
belong to one response, so `begin_round` resets them and a round's terminal `output`
replaces only the items from `round_start` on.
"""

import logging
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from chat.turns import bounds, hosted_events, parts
from chat.turns.bounds import MAX_INDEX_GAP as GAP
from chat.turns.bounds import MAX_ITEMS, Guard, short
from chat.turns.items import (
    DELTA_FIELDS,
    DONE_FIELDS,
    IMPLIED_ITEM_TYPE,
    LIST_FIELDS,
    Item,
    build_item,
    merge_raw,
)
from chat.turns.tokens import TokenUsage, usage_from
from chat.upstream import errors
from chat.upstream.events import MALFORMED, StreamEvent

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
log = logging.getLogger(__name__)
_logged_unknown: set[str] = set()  # unknown event types already logged by this process


@dataclass
class Changes:
    """What changed since the last flush, so a relay renders only that."""

    # (item position, field, part index) -> text appended since the last flush
    appended: dict[tuple[int, str, int], str] = field(default_factory=dict)
    items: set[int] = field(default_factory=set)  # items to render whole (new or replaced)
    status: bool = False  # status, usage, error or model changed
    warnings: bool = False  # a warning was added or counted

    def __bool__(self) -> bool:
        return bool(self.appended or self.items or self.status or self.warnings)


class TurnState:
    def __init__(self) -> None:
        self.items: list[Item] = []
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
        self.guard = Guard()  # every index, count and size from upstream is checked here
        # Final images by item position, decoded and checked; the runner stores them.
        self.images: dict[int, tuple[bytes, str]] = {}
        self.rounds: list[dict[str, Any]] = []  # the finished rounds (round_record())
        self.round_start = 0  # position of the current round's first item
        self._round_events = 0
        self._by_index: dict[int, int] = {}
        self._by_id: dict[str, int] = {}
        self._changes = Changes()

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
            state._add(Item.from_dict(data))  # indexes only the current round's items
        state.guard.chars = sum(item.size() for item in state.items)
        state.status, state.response_id, state.model = status, response_id, model
        state.last_seq, state.background = last_seq, background
        state._changes = Changes()
        return state

    # --- rounds ---
    def round_record(self) -> dict[str, Any]:
        """The current round as stored on the message (and in its ledger row)."""
        return {
            "response_id": self.response_id,
            "status": self.status,
            "start": self.round_start,
            "usage": asdict(self.usage) if self.usage is not None else None,
            "raw_usage": self.raw_usage,
            "events": self._round_events,
        }

    def all_rounds(self) -> list[dict[str, Any]]:
        return [*self.rounds, self.round_record()]

    def add_item(self, item: Item) -> int | None:
        """An item made on our side between rounds (a tool's output), shown like the others;
        None past the limit on items (bounds.MAX_ITEMS), with a warning."""
        position = self._add(item)
        if position is not None:
            self._changes.items.add(position)
        return position

    def begin_round(self) -> None:
        """The next upstream response goes on into the same message."""
        self.rounds.append(self.round_record())
        self.round_start = len(self.items)
        self.response_id = None
        self.usage = self.raw_usage = None
        self.incomplete_reason = None
        self.last_seq = None  # sequence numbers restart per response
        self._round_events = 0
        self._by_index, self._by_id = {}, {}
        self._set_status(STREAMING)

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
        changes, self._changes = self._changes, Changes()
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
        self._round_events += 1
        first = self.status == QUEUED
        if first:
            self._set_status(STREAMING)  # the first event goes out at once
        index = event.output_index
        if index is not None and not 0 <= index <= len(self.items) - self.round_start + GAP:
            self.guard.warn(bounds.INDEX, f"output_index {index}")
            return first
        kind = event.type
        if kind in DELTA_FIELDS:
            self._append(event, DELTA_FIELDS[kind])
            return False  # text: coalesced (the runner sends the first token at once)
        items, status = len(self.items), self.status
        self._dispatch(event, kind)
        return first or len(self.items) != items or self.status != status

    def _dispatch(self, event: StreamEvent, kind: str) -> None:
        if kind in DONE_FIELDS:
            self._replace(event, *DONE_FIELDS[kind])
        elif kind in LIFECYCLE or kind in TERMINAL_STATUS:
            self._lifecycle(event)
        elif kind == "response.output_item.added" or kind == "response.output_item.done":
            self._item_event(event)
        elif kind in ("response.content_part.added", "response.content_part.done"):
            parts.content_part(self, event)
        elif kind in (
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
        ):
            parts.summary_part(self, event)
        elif kind == "response.output_text.annotation.added":
            parts.annotation(self, event)
        elif kind == "error":
            self._error(event)
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
            self._unknown(event)

    def fail(self, code: str, message: str) -> None:
        """End the turn as failed for a reason found on our side (timeout, broken stream)."""
        if not self.error_code:
            self.error_code, self.error_message = code, message
        self._set_status(FAILED)

    def stop_early(self, reason: str, warning: str) -> None:
        """End as incomplete for a reason of ours (the tool-round limit)."""
        self.incomplete_reason = reason
        self.guard.warn("stopped", warning)
        self._set_status(INCOMPLETE)

    def cut_at_length(self, limit: int | None) -> bool:
        """A round reported `completed` though it used every output token allowed: it was cut
        at the limit (llama.cpp says `completed` there), so it is incomplete for that reason.
        Exactly the limit: a server reporting more did not apply it, so nothing was cut."""
        usage = self.usage
        if not limit or self.status != COMPLETED or usage is None or usage.output_tokens != limit:
            return False
        self.incomplete_reason = "max_output_tokens"
        self._set_status(INCOMPLETE)
        return True

    def cancel(self) -> None:
        self._set_status(CANCELLED)

    def interrupt(self) -> None:
        self._set_status(INTERRUPTED)

    # --- handlers ---
    def _lifecycle(self, event: StreamEvent) -> None:
        response = event.response
        if response is not None:
            seen = (self.response_id, self.model, self.background)
            self.response_id = short(response.id) or self.response_id
            self.model = short(response.model) or self.model
            self.background = bool(response.background) or self.background
            if (self.response_id, self.model, self.background) != seen:
                self._changes.status = True
        if event.type not in TERMINAL_STATUS:
            return
        if response is not None:
            self._take_terminal(response)
        self._set_status(TERMINAL_STATUS[event.type])

    def _take_terminal(self, response: Any) -> None:
        if response.usage is not None:
            self.usage = usage_from(response.usage)
            self.raw_usage = response.usage.model_dump(exclude_none=True)
        if response.error is not None:
            self._set_error(response.error.code, response.error.message)
        if response.incomplete_details:
            self.incomplete_reason = short(response.incomplete_details.get("reason"))
        if response.output:
            self._rebuild(response.output)
        self._changes.status = True

    def _rebuild(self, output: list[dict[str, Any]]) -> None:
        """The terminal `output` is the final truth (ids may differ from the stream's) for
        this round's items; earlier rounds' items stay as they are."""
        start = self.round_start
        old, old_images = self.items[start:], self.images
        del self.items[start:]
        self._by_index, self._by_id = {}, {}
        self.images = {p: image for p, image in old_images.items() if p < start}
        self.guard.chars = sum(item.size() for item in self.items)
        if len(output) > MAX_ITEMS:
            self.guard.warn(bounds.COUNT, f"{len(output):,} output items")
        for index, data in enumerate(output[:MAX_ITEMS]):
            if isinstance(data, dict):
                position = self._take_item(data, index)
                if position is not None:
                    self._take_image(position, data)
        for offset, previous in enumerate(old):
            # Keep what only the stream carried (e.g. llama.cpp's output lacks reasoning).
            position = start + offset
            if position >= len(self.items) or self.items[position].type != previous.type:
                continue
            current = self.items[position]
            size = current.size()
            current.summary = current.summary or previous.summary
            current.reasoning = current.reasoning or previous.reasoning
            self.guard.grew(current, size)
            if current.type == previous.type != "message":
                current.raw = merge_raw(previous.raw, current.raw)  # e.g. streamed commands
            if position in old_images and position not in self.images:
                self.images[position] = old_images[position]
        self._changes.items.update(range(start, max(len(self.items), start + len(old))))

    def _item_event(self, event: StreamEvent) -> None:
        data = event.item or {}
        position = self._find(event)
        if position is None:
            position = self._take_item(data, event.output_index)
            if position is not None:
                self._take_image(position, data)
                self._changes.items.add(position)
            return
        item = self.items[position]
        before, size = replace(item), item.size()  # shallow: update_from replaces, not mutates
        if item.update_from(data):
            self.guard.warn(bounds.SIZE, "an output item")
        self.guard.grew(item, size)
        self._index(position)
        self._take_image(position, data)
        if item != before:
            self._changes.items.add(position)

    def _take_image(self, position: int, data: dict[str, Any]) -> None:
        if position in self.images:
            return
        image = hosted_events.take_image(self.items[position], data)
        if image is not None:
            self.images[position] = image

    def _append(self, event: StreamEvent, name: str) -> None:
        delta = event.delta
        if not isinstance(delta, str) or not delta:
            return
        if "\x00" in delta:  # shown as U+FFFD live, stripped when stored: never kept at all
            delta = delta.replace("\x00", "")
            if not delta:
                return
        position = self._find_or_imply(event, IMPLIED_ITEM_TYPE[name])
        if position is None:
            return
        item = self.items[position]
        index = self._field_index(item, name, event)
        if index is None:
            return
        guard = self.guard
        if guard.chars + len(delta) <= guard.limit:  # inline: this is every delta's path
            guard.chars += len(delta)
        else:
            delta = guard.take(0, delta)
            if not delta:
                return
        if name == "text" and index < len(item.parts):
            item.parts[index].add(delta)
        else:
            item.set_text(name, index, item.get_text(name, index) + delta)
        key = (position, name, index)
        self._changes.appended[key] = self._changes.appended.get(key, "") + delta

    def _replace(self, event: StreamEvent, name: str, source: str) -> None:
        value = getattr(event, source)
        if not isinstance(value, str):
            return
        value = value.replace("\x00", "")
        position = self._find_or_imply(event, IMPLIED_ITEM_TYPE[name])
        if position is None:
            return
        item = self.items[position]
        index = self._field_index(item, name, event)
        if index is None:
            return
        old = item.get_text(name, index)
        value = self.guard.take(len(old), value)
        item.set_text(name, index, value)
        if old != value:
            self._changes.items.add(position)

    def _error(self, event: StreamEvent) -> None:
        info = event.error_info()
        self._set_error(info.code, info.message)

    def _set_error(self, code: Any, message: Any) -> None:
        """The code if it is a plain identifier; our words for it (errors.describe), never
        the server's text, which is kept only for the log (error_detail)."""
        code = errors.safe_code(code) or self.error_code or "error"
        if (code, self.error_message) == (self.error_code, errors.describe(None, code)):
            return
        self.error_code, self.error_message = code, errors.describe(None, code)
        self.error_detail = bounds.message(message) or self.error_detail
        self._changes.status = True

    def _unknown(self, event: StreamEvent) -> None:
        """A type newer than this code: logged once, kept raw on its item, never fatal."""
        if event.type not in _logged_unknown:
            _logged_unknown.add(event.type)
            log.warning("unknown stream event type %r: kept raw, not shown", event.type[:100])
        if event.item_id is None and event.output_index is None:
            return
        position = self._find(event)
        if position is None:
            return
        item = self.items[position]
        hosted_events.keep_unknown(item, event)
        # `response.<its item type>.<step>` reads as a new tool's progress, as the known ones do.
        _, item_type, step = (event.type.split(".", 2) + ["", ""])[:3]
        if (
            item_type == item.type
            and step.isidentifier()
            and step not in ("added", "delta", "done")
        ):
            if item.status != step[:40]:
                item.status = step[:40]
                self._changes.items.add(position)

    # --- used by chat/turns/hosted_events.py ---
    def find_item(self, event: StreamEvent) -> int | None:
        return self._find(event)

    def imply_item(self, event: StreamEvent, item_type: str) -> int | None:
        return self._find_or_imply(event, item_type)

    def mark_changed(self, position: int) -> None:
        self._changes.items.add(position)

    # --- addressing ---
    def _find(self, event: StreamEvent) -> int | None:
        if event.output_index is not None and event.output_index in self._by_index:
            return self._by_index[event.output_index]
        if event.item_id is not None and event.item_id in self._by_id:
            return self._by_id[event.item_id]
        if event.output_index is None and event.item_id is None:
            if len(self.items) > self.round_start:
                return len(self.items) - 1  # no address at all: arrival order, in this round
        return None

    def _find_or_imply(self, event: StreamEvent, item_type: str) -> int | None:
        position = self._find(event)
        if position is None:
            item = Item(type=item_type, id=short(event.item_id), output_index=event.output_index)
            position = self._add(item)
            if position is not None:
                self._changes.items.add(position)
        return position

    def _take_item(self, data: dict[str, Any], output_index: int | None) -> int | None:
        """A new item from an upstream payload, within the count and size limits."""
        if not self.guard.has_room(len(self.items)):  # before building it: it may be large
            return None
        item, cut = build_item(data, output_index)
        if cut:
            self.guard.warn(bounds.SIZE, "an output item")
        position = self._add(item)
        if position is not None:
            self.guard.grew(item, 0)
        return position

    def _add(self, item: Item) -> int | None:
        if not self.guard.has_room(len(self.items)):
            return None
        self.items.append(item)
        position = len(self.items) - 1
        self._index(position)
        return position

    def _index(self, position: int) -> None:
        if position < self.round_start:
            return  # an earlier response's addresses mean nothing to this one
        item = self.items[position]
        if item.output_index is not None:
            self._by_index[item.output_index] = position
        if item.id:
            self._by_id[item.id] = position

    def _field_index(self, item: Item, name: str, event: StreamEvent) -> int | None:
        explicit = event.summary_index if name == "summary" else event.content_index
        if name == "text" or name == "refusal":
            values: list[Any] = item.parts
        elif name in LIST_FIELDS:
            values = getattr(item, name)
        else:
            return 0  # a single string (arguments, input, code): its index means nothing
        if explicit is not None and 0 <= explicit < len(values):
            return explicit  # an existing slot: nothing to check
        return self.guard.slot(values, explicit, False)

    def _set_status(self, status: str) -> None:
        if self.status != status:
            self.status = status
            self._changes.status = True
