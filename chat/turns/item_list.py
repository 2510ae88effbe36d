"""The message's items as the accumulator holds them: addressed per round, bounded, and
what changed since the last flush.

The lowest rung of the accumulator: TurnState (chat/turns/state.py) builds on ItemList, and
the handler modules (parts, reasoning, output_items, hosted_events) take an ItemList, so
none of them imports the state. Addressing (responses-protocol.md §2): by output_index when
the server sends it, else by item_id, else by arrival order, within the current round.
"""

from dataclasses import dataclass, field
from typing import Any

from chat.turns.bounds import Guard, short
from chat.turns.items import LIST_FIELDS, Item
from chat.upstream.events import StreamEvent


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


class ItemList:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.guard = Guard()  # every index, count and size from upstream is checked here
        # Final images by item position, decoded and checked; the runner stores them.
        self.images: dict[int, tuple[bytes, str]] = {}
        self.round_start = 0  # position of the current round's first item
        self._by_index: dict[int, int] = {}
        self._by_id: dict[str, int] = {}
        self.pending = Changes()  # what changed since the last flush: take_changes() hands it over

    def add_item(self, item: Item) -> int | None:
        """An item made on our side between rounds (a tool's output), shown like the others;
        None past the limit on items (bounds.MAX_ITEMS), with a warning."""
        position = self.store(item)
        if position is not None:
            self.pending.items.add(position)
        return position

    def mark_changed(self, position: int) -> None:
        self.pending.items.add(position)

    def start_addresses(self, start: int) -> None:
        """A new round from `start` on: an earlier response's addresses mean nothing to it."""
        self.round_start = start
        self._by_index, self._by_id = {}, {}

    def find_item(self, event: StreamEvent) -> int | None:
        if event.output_index is not None and event.output_index in self._by_index:
            return self._by_index[event.output_index]
        if event.item_id is not None and event.item_id in self._by_id:
            return self._by_id[event.item_id]
        if event.output_index is None and event.item_id is None:
            if len(self.items) > self.round_start:
                return len(self.items) - 1  # no address at all: arrival order, in this round
        return None

    def imply_item(self, event: StreamEvent, item_type: str) -> int | None:
        """The event's item, made when it names one not seen yet (a delta before its item)."""
        position = self.find_item(event)
        if position is None:
            item = Item(type=item_type, id=short(event.item_id), output_index=event.output_index)
            position = self.store(item)
            if position is not None:
                self.pending.items.add(position)
        return position

    def store(self, item: Item) -> int | None:
        """Append and address an item, within the limit on items; None past it."""
        if not self.guard.has_room(len(self.items)):
            return None
        self.items.append(item)
        position = len(self.items) - 1
        self.index(position)
        return position

    def index(self, position: int) -> None:
        if position < self.round_start:
            return  # an earlier response's addresses mean nothing to this one
        item = self.items[position]
        if item.output_index is not None:
            self._by_index[item.output_index] = position
        if item.id:
            self._by_id[item.id] = position

    def field_index(self, item: Item, name: str, event: StreamEvent) -> int | None:
        """The bounded slot of a text field a delta or `.done` event addresses."""
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
