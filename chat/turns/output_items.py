"""Output items whole: `output_item.added/.done` and the terminal `output` that replaces a
round's items (responses-protocol.md §2, §10).

Function and custom tool calls, messages, reasoning and hosted tools all arrive this way;
their text deltas go through parts.py. Handlers the accumulator calls with its ItemList.
"""

from dataclasses import replace
from typing import Any

from chat.turns import bounds, hosted_events
from chat.turns.bounds import MAX_ITEMS
from chat.turns.item_list import ItemList
from chat.turns.items import build_item, merge_raw
from chat.upstream.events import StreamEvent


def item_event(state: ItemList, event: StreamEvent) -> None:
    data = event.item or {}
    position = state.find_item(event)
    if position is None:
        position = take_item(state, data, event.output_index)
        if position is not None:
            take_image(state, position, data)
            state.mark_changed(position)
        return
    item = state.items[position]
    before, size = replace(item), item.size()  # shallow: update_from replaces, not mutates
    if item.update_from(data):
        state.guard.warn(bounds.SIZE, "an output item")
    state.guard.grew(item, size)
    state.index(position)
    take_image(state, position, data)
    if item != before:
        state.mark_changed(position)


def rebuild(state: ItemList, output: list[dict[str, Any]]) -> None:
    """The terminal `output` is the final truth (ids may differ from the stream's) for
    this round's items; earlier rounds' items stay as they are."""
    start = state.round_start
    old, old_images = state.items[start:], state.images
    del state.items[start:]
    state.start_addresses(start)
    state.images = {p: image for p, image in old_images.items() if p < start}
    state.guard.chars = sum(item.size() for item in state.items)
    if len(output) > MAX_ITEMS:
        state.guard.warn(bounds.COUNT, f"{len(output):,} output items")
    for index, data in enumerate(output[:MAX_ITEMS]):
        if isinstance(data, dict):
            position = take_item(state, data, index)
            if position is not None:
                take_image(state, position, data)
    for offset, previous in enumerate(old):
        # Keep what only the stream carried (e.g. llama.cpp's output lacks reasoning).
        position = start + offset
        if position >= len(state.items) or state.items[position].type != previous.type:
            continue
        current = state.items[position]
        size = current.size()
        current.summary = current.summary or previous.summary
        current.reasoning = current.reasoning or previous.reasoning
        state.guard.grew(current, size)
        if current.type == previous.type != "message":
            current.raw = merge_raw(previous.raw, current.raw)  # e.g. streamed commands
        if position in old_images and position not in state.images:
            state.images[position] = old_images[position]
    for position in range(start, max(len(state.items), start + len(old))):
        state.mark_changed(position)


def take_item(state: ItemList, data: dict[str, Any], output_index: int | None) -> int | None:
    """A new item from an upstream payload, within the count and size limits."""
    if not state.guard.has_room(len(state.items)):  # before building it: it may be large
        return None
    item, cut = build_item(data, output_index)
    if cut:
        state.guard.warn(bounds.SIZE, "an output item")
    position = state.store(item)
    if position is not None:
        state.guard.grew(item, 0)
    return position


def take_image(state: ItemList, position: int, data: dict[str, Any]) -> None:
    if position in state.images:
        return
    image = hosted_events.take_image(state.items[position], data)
    if image is not None:
        state.images[position] = image
