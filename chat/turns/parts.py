"""The parts of an item: message content parts, summary and reasoning parts, citations.

Helpers the accumulator (chat/turns/state.py) calls with itself, as hosted_events.py does;
every index and text from upstream goes through the state's bounds.Guard first.
"""

from typing import TYPE_CHECKING

from chat.turns import bounds
from chat.turns.bounds import pad, short
from chat.turns.items import Part, annotation_ok
from chat.upstream.events import StreamEvent

if TYPE_CHECKING:
    from chat.turns.state import TurnState


def content_part(state: "TurnState", event: StreamEvent) -> None:
    """`content_part.added/.done`: a bounded slot for a message part (or reasoning text)."""
    position = state.imply_item(event, "message")
    if position is None:
        return
    item = state.items[position]
    part = event.part or {}
    kind = short(part.get("type")) or "output_text"
    if kind == "reasoning_text":
        text = part.get("text")
        text = text if isinstance(text, str) else ""
        _set_slot(state, position, item.reasoning, event, text)
        return
    index = state.guard.slot(item.parts, event.content_index, event.type.endswith(".added"))
    if index is None:
        return
    if index >= len(item.parts):
        pad(item.parts, index, lambda: Part(kind=kind))
        state.mark_changed(position)
    if event.type.endswith(".done"):
        target = item.parts[index]
        text = part.get("refusal") if kind == "refusal" else part.get("text")
        old = target.text
        if isinstance(text, str) and text != old:
            target.text = state.guard.take(len(old), text)
            state.mark_changed(position)
        if target.kind != kind:
            target.kind = kind
            state.mark_changed(position)


def summary_part(state: "TurnState", event: StreamEvent) -> None:
    position = state.imply_item(event, "reasoning")
    if position is None:
        return
    part = event.part or {}
    text = part.get("text") if isinstance(part.get("text"), str) else ""
    _set_slot(state, position, state.items[position].summary, event, text)


def annotation(state: "TurnState", event: StreamEvent) -> None:
    """A citation on a part: bounded in number and size."""
    if event.annotation is None:
        return
    position = state.imply_item(event, "message")
    if position is None:
        return
    item = state.items[position]
    index = state.guard.slot(item.parts, event.content_index, False)
    if index is None:
        return
    pad(item.parts, index, Part)
    annotations = item.parts[index].annotations
    if len(annotations) >= bounds.MAX_ANNOTATIONS:
        state.guard.warn(bounds.COUNT, f"more than {bounds.MAX_ANNOTATIONS} annotations")
        return
    if not annotation_ok(event.annotation):
        state.guard.warn(bounds.SIZE, "an annotation")
        return
    annotations.append(event.annotation)
    state.mark_changed(position)


def _set_slot(
    state: "TurnState", position: int, values: list[str], event: StreamEvent, text: str
) -> None:
    """A summary or reasoning part's `.added`/`.done`: a slot, and its text when final."""
    item = state.items[position]
    explicit = event.summary_index if values is item.summary else event.content_index
    slot = state.guard.slot(values, explicit, event.type.endswith(".added"))
    if slot is None:
        return
    if slot >= len(values):
        pad(values, slot, str)
        state.mark_changed(position)
    old = values[slot]
    if (event.type.endswith(".done") or not old) and text and text != old:
        values[slot] = state.guard.take(len(old), text)
        state.mark_changed(position)
