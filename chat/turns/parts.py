"""Text and the parts of an item: deltas, `.done` values, message content parts, citations.

Handlers the accumulator (chat/turns/state.py) calls with its ItemList; every index and
text from upstream goes through the list's bounds.Guard first.
"""

from chat.turns import bounds
from chat.turns.bounds import pad, short
from chat.turns.item_list import ItemList
from chat.turns.items import IMPLIED_ITEM_TYPE, Part, annotation_ok
from chat.turns.reasoning import set_slot
from chat.upstream.events import StreamEvent


def append_delta(state: ItemList, event: StreamEvent, name: str) -> None:
    """A `*.delta`: text appended to its field. Every delta's path, so kept short."""
    delta = event.delta
    if not isinstance(delta, str) or not delta:
        return
    if "\x00" in delta:  # shown as U+FFFD live, stripped when stored: never kept at all
        delta = delta.replace("\x00", "")
        if not delta:
            return
    position = state.imply_item(event, IMPLIED_ITEM_TYPE[name])
    if position is None:
        return
    item = state.items[position]
    index = state.field_index(item, name, event)
    if index is None:
        return
    guard = state.guard
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
    appended = state.pending.appended
    key = (position, name, index)
    appended[key] = appended.get(key, "") + delta


def replace_text(state: ItemList, event: StreamEvent, name: str, source: str) -> None:
    """A `*.done`: its value replaces the deltas gathered so far."""
    value = getattr(event, source)
    if not isinstance(value, str):
        return
    value = value.replace("\x00", "")
    position = state.imply_item(event, IMPLIED_ITEM_TYPE[name])
    if position is None:
        return
    item = state.items[position]
    index = state.field_index(item, name, event)
    if index is None:
        return
    old = item.get_text(name, index)
    value = state.guard.take(len(old), value)
    item.set_text(name, index, value)
    if old != value:
        state.mark_changed(position)


def content_part(state: ItemList, event: StreamEvent) -> None:
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
        set_slot(state, position, item.reasoning, event, text)
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


def annotation(state: ItemList, event: StreamEvent) -> None:
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
