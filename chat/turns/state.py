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
from dataclasses import asdict, dataclass, field
from typing import Any

from chat.turns import hosted_events
from chat.turns.items import (
    DELTA_FIELDS,
    DONE_FIELDS,
    IMPLIED_ITEM_TYPE,
    LIST_FIELDS,
    Item,
    Part,
    merge_raw,
    new_item,
)
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
log = logging.getLogger(__name__)
_logged_unknown: set[str] = set()  # unknown event types already logged by this process


@dataclass
class TokenUsage:
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int | None = None  # only some servers report it
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0


@dataclass
class Changes:
    """What changed since the last flush, so a relay renders only that."""

    # (item position, field, part index) -> text appended since the last flush
    appended: dict[tuple[int, str, int], str] = field(default_factory=dict)
    items: set[int] = field(default_factory=set)  # items to render whole (new or replaced)
    status: bool = False  # status, usage, error or model changed

    def __bool__(self) -> bool:
        return bool(self.appended or self.items or self.status)


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
        self.incomplete_reason: str | None = None
        self.background = False
        self.last_seq: int | None = None
        self.events = 0
        self.warnings: list[str] = []
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
        for data in items:
            state._add(Item.from_dict(data))  # indexes only the current round's items
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

    def add_item(self, item: Item) -> int:
        """An item made on our side between rounds (a tool's output), shown like the others."""
        position = self._add(item)
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
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        for key in [k for k in changes.appended if k[0] in changes.items]:
            del changes.appended[key]  # the whole item is re-rendered anyway
        return changes

    # --- applying events ---
    def apply(self, event: StreamEvent) -> bool:
        """Fold one event in; True when it is structural and should be flushed at once."""
        seq = event.sequence_number
        if seq is not None:
            if self.last_seq is not None and seq <= self.last_seq:
                return False
            self.last_seq = seq
        self.events += 1
        self._round_events += 1
        if self.status == QUEUED:
            self._set_status(STREAMING)
        kind = event.type
        if kind in DELTA_FIELDS:
            self._append(event, DELTA_FIELDS[kind])
            return False
        if kind in DONE_FIELDS:
            self._replace(event, *DONE_FIELDS[kind])
        elif kind in LIFECYCLE or kind in TERMINAL_STATUS:
            self._lifecycle(event)
        elif kind == "response.output_item.added" or kind == "response.output_item.done":
            self._item_event(event)
        elif kind in ("response.content_part.added", "response.content_part.done"):
            self._content_part(event)
        elif kind in (
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_part.done",
        ):
            self._summary_part(event)
        elif kind == "response.output_text.annotation.added":
            self._annotation(event)
        elif kind == "error":
            self._error(event)
        elif kind in hosted_events.PROGRESS:
            return hosted_events.apply_progress(self, event)
        elif kind in hosted_events.SHELL_EVENTS:
            return hosted_events.apply_shell(self, event)
        elif kind == hosted_events.PARTIAL_IMAGE:
            return hosted_events.apply_partial_image(self, event)
        elif kind in hosted_events.IGNORED:
            return False
        elif kind == MALFORMED:
            self.warnings.append(
                f"Skipped a malformed event from the model server: {event.message}"
            )
            self._changes.status = True
        else:
            self._unknown(event)
        return True

    def fail(self, code: str, message: str) -> None:
        """End the turn as failed for a reason found on our side (timeout, broken stream)."""
        if not self.error_code:
            self.error_code, self.error_message = code, message
        self._set_status(FAILED)

    def stop_early(self, reason: str, warning: str) -> None:
        """End as incomplete for a reason of ours (the tool-round limit)."""
        self.incomplete_reason = reason
        self.warnings.append(warning)
        self._set_status(INCOMPLETE)

    def cancel(self) -> None:
        self._set_status(CANCELLED)

    def interrupt(self) -> None:
        self._set_status(INTERRUPTED)

    # --- handlers ---
    def _lifecycle(self, event: StreamEvent) -> None:
        response = event.response
        if response is not None:
            self.response_id = response.id or self.response_id
            self.model = response.model or self.model
            self.background = bool(response.background) or self.background
        self._changes.status = True
        if event.type not in TERMINAL_STATUS:
            return
        if response is not None:
            self._take_terminal(response)
        self._set_status(TERMINAL_STATUS[event.type])

    def _take_terminal(self, response: Any) -> None:
        if response.usage is not None:
            self.usage = _usage(response.usage)
            self.raw_usage = response.usage.model_dump(exclude_none=True)
        if response.error is not None:
            self.error_code = response.error.code or self.error_code
            self.error_message = response.error.message or self.error_message
        if response.incomplete_details:
            self.incomplete_reason = response.incomplete_details.get("reason")
        if response.output:
            self._rebuild(response.output)

    def _rebuild(self, output: list[dict[str, Any]]) -> None:
        """The terminal `output` is the final truth (ids may differ from the stream's) for
        this round's items; earlier rounds' items stay as they are."""
        start = self.round_start
        old, old_images = self.items[start:], self.images
        del self.items[start:]
        self._by_index, self._by_id = {}, {}
        self.images = {p: image for p, image in old_images.items() if p < start}
        for index, data in enumerate(output):
            if isinstance(data, dict):
                self._take_image(self._add(new_item(data, index)), data)
        for offset, previous in enumerate(old):
            # Keep what only the stream carried (e.g. llama.cpp's output lacks reasoning).
            position = start + offset
            if position >= len(self.items) or self.items[position].type != previous.type:
                continue
            current = self.items[position]
            current.summary = current.summary or previous.summary
            current.reasoning = current.reasoning or previous.reasoning
            if current.type == previous.type != "message":
                current.raw = merge_raw(previous.raw, current.raw)  # e.g. streamed commands
            if position in old_images and position not in self.images:
                self.images[position] = old_images[position]
        self._changes.items.update(range(start, max(len(self.items), start + len(old))))

    def _item_event(self, event: StreamEvent) -> None:
        data = event.item or {}
        position = self._find(event)
        if position is None:
            position = self._add(new_item(data, event.output_index))
        else:
            self.items[position].update_from(data)
            self._index(position)
        self._take_image(position, data)
        self._changes.items.add(position)

    def _take_image(self, position: int, data: dict[str, Any]) -> None:
        if position in self.images:
            return
        image = hosted_events.take_image(self.items[position], data)
        if image is not None:
            self.images[position] = image

    def _content_part(self, event: StreamEvent) -> None:
        position = self._find_or_imply(event, "message")
        item = self.items[position]
        part = event.part or {}
        kind = part.get("type") if isinstance(part.get("type"), str) else "output_text"
        if kind == "reasoning_text":
            self._set_slot(item.reasoning, event.content_index, part.get("text") or "", event.type)
        else:
            index = _slot(item.parts, event.content_index, event.type.endswith(".added"))
            while len(item.parts) <= index:
                item.parts.append(Part(kind=kind))
            if event.type.endswith(".done"):
                text = part.get("refusal") if kind == "refusal" else part.get("text")
                if isinstance(text, str):
                    item.parts[index].text = text
                item.parts[index].kind = kind
        self._changes.items.add(position)

    def _summary_part(self, event: StreamEvent) -> None:
        position = self._find_or_imply(event, "reasoning")
        part = event.part or {}
        text = part.get("text") if isinstance(part.get("text"), str) else ""
        self._set_slot(self.items[position].summary, event.summary_index, text, event.type)
        self._changes.items.add(position)

    def _append(self, event: StreamEvent, name: str) -> None:
        delta = event.delta
        if not isinstance(delta, str) or not delta:
            return
        position = self._find_or_imply(event, IMPLIED_ITEM_TYPE[name])
        item = self.items[position]
        index = self._field_index(item, name, event)
        if name in LIST_FIELDS:
            values = getattr(item, name)
            while len(values) <= index:
                values.append("")
            values[index] += delta
        elif name in ("text", "refusal"):
            while len(item.parts) <= index:
                item.parts.append(Part(kind="output_text" if name == "text" else "refusal"))
            item.parts[index].text += delta
        else:
            setattr(item, name, getattr(item, name) + delta)
        key = (position, name, index)
        self._changes.appended[key] = self._changes.appended.get(key, "") + delta

    def _replace(self, event: StreamEvent, name: str, source: str) -> None:
        value = getattr(event, source)
        if not isinstance(value, str):
            return
        position = self._find_or_imply(event, IMPLIED_ITEM_TYPE[name])
        item = self.items[position]
        index = self._field_index(item, name, event)
        if name in LIST_FIELDS:
            values = getattr(item, name)
            while len(values) <= index:
                values.append("")
            changed = values[index] != value
            values[index] = value
        elif name in ("text", "refusal"):
            while len(item.parts) <= index:
                item.parts.append(Part(kind="output_text" if name == "text" else "refusal"))
            changed = item.parts[index].text != value
            item.parts[index].text = value
        else:
            changed = getattr(item, name) != value
            setattr(item, name, value)
        if changed:
            self._changes.items.add(position)

    def _annotation(self, event: StreamEvent) -> None:
        if event.annotation is None:
            return
        position = self._find_or_imply(event, "message")
        item = self.items[position]
        index = _slot(item.parts, event.content_index, False)
        while len(item.parts) <= index:
            item.parts.append(Part())
        item.parts[index].annotations.append(event.annotation)
        self._changes.items.add(position)

    def _error(self, event: StreamEvent) -> None:
        info = event.error_info()
        self.error_code = info.code or "error"
        self.error_message = info.message
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
            item.status = step[:40]
            self._changes.items.add(position)

    # --- used by chat/turns/hosted_events.py ---
    def find_item(self, event: StreamEvent) -> int | None:
        return self._find(event)

    def imply_item(self, event: StreamEvent, item_type: str) -> int:
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

    def _find_or_imply(self, event: StreamEvent, item_type: str) -> int:
        position = self._find(event)
        if position is None:
            item = Item(type=item_type, id=event.item_id, output_index=event.output_index)
            position = self._add(item)
            self._changes.items.add(position)
        return position

    def _add(self, item: Item) -> int:
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

    def _field_index(self, item: Item, name: str, event: StreamEvent) -> int:
        explicit = event.summary_index if name == "summary" else event.content_index
        if name == "reasoning" and explicit is None:
            return max(len(item.reasoning) - 1, 0)
        if explicit is not None:
            return explicit
        if name == "summary":
            return max(len(item.summary) - 1, 0)
        if name in ("text", "refusal"):
            return max(len(item.parts) - 1, 0)
        return 0

    def _set_slot(self, values: list[str], index: int | None, text: str, kind: str) -> None:
        slot = _slot(values, index, kind.endswith(".added"))
        while len(values) <= slot:
            values.append("")
        if kind.endswith(".done") or not values[slot]:
            values[slot] = text or values[slot]

    def _set_status(self, status: str) -> None:
        if self.status != status:
            self.status = status
            self._changes.status = True


def _slot(values: list[Any], index: int | None, is_new: bool) -> int:
    """The explicit index when sent; otherwise a new slot for `.added`, the last for the rest."""
    if index is not None:
        return index
    if is_new:
        return len(values)
    return max(len(values) - 1, 0)


def _usage(usage: Any) -> TokenUsage:
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
