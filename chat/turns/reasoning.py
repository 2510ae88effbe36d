"""Reasoning items' parts: summary parts and reasoning text, each a bounded slot.

Handlers the accumulator (chat/turns/state.py) calls with its ItemList; the deltas of both
go through parts.append_delta like any text.
"""

from chat.turns.bounds import pad
from chat.turns.item_list import ItemList
from chat.upstream.events import StreamEvent


def summary_part(state: ItemList, event: StreamEvent) -> None:
    """`reasoning_summary_part.added/.done`."""
    position = state.imply_item(event, "reasoning")
    if position is None:
        return
    part = event.part or {}
    text = part.get("text") if isinstance(part.get("text"), str) else ""
    set_slot(state, position, state.items[position].summary, event, text)


def set_slot(
    state: ItemList, position: int, values: list[str], event: StreamEvent, text: str
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
