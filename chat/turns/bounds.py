"""Limits on what one upstream response may make the accumulator hold, and its warnings.

Anything from upstream is hostile (issue 13): one delta with `content_index: 100000` used to
pad a list to that length, and a stream of malformed events re-rendered an ever longer list
of warnings. So every index, count and size is checked against these limits before it
reaches memory; an event that breaks one is dropped, and the person sees one warning per
kind of problem with a count, never one per event.
"""

from dataclasses import dataclass, field
from typing import Any

MAX_ITEMS = 256  # output items per response (tool calls, reasoning, messages)
MAX_PARTS = 64  # content / summary / reasoning parts per item
MAX_INDEX_GAP = 4  # an index may skip at most this many slots past the last one there
MAX_ANNOTATIONS = 256  # citations per content part
MAX_CHARS = 2_000_000  # all text a turn holds: parts, summaries, arguments, code
MAX_JSON_BYTES = 16_384  # one annotation
MAX_RAW_BYTES = 1_048_576  # an item's other fields (a hosted tool's results), as JSON
MAX_ID_CHARS = 200  # ids, names, statuses: short strings (and the database's columns)
MAX_MESSAGE_CHARS = 1_000  # an error message from upstream

MAX_WARNING_KINDS = 5  # distinct problems listed; more are summed up in one line
MAX_WARNING_CHARS = 300

# Warning kinds, each shown once with its count.
MALFORMED = "malformed"
INDEX = "index"
COUNT = "count"
SIZE = "size"

_MORE = {
    MALFORMED: "malformed events",
    INDEX: "events with an out-of-range index",
    COUNT: "events past the limit on items or parts",
    SIZE: "values too large to keep",
}


@dataclass
class Warnings:
    """Deduplicated, capped warnings: the first text of each kind and how many there were."""

    first: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    dropped: int = 0  # warnings of kinds past MAX_WARNING_KINDS

    def add(self, kind: str, text: str) -> None:
        if kind in self.counts:
            self.counts[kind] += 1
        elif len(self.counts) < MAX_WARNING_KINDS:
            self.first[kind] = text[:MAX_WARNING_CHARS]
            self.counts[kind] = 1
        else:
            self.dropped += 1

    def lines(self) -> list[str]:
        """What a person reads: bounded whatever the number of bad events."""
        out = []
        for kind, text in self.first.items():
            more = self.counts[kind] - 1
            if more:
                text += f" (and {more:,} more {_MORE.get(kind, 'like it')})"
            out.append(text)
        if self.dropped:
            out.append(f"… and {self.dropped:,} more warnings.")
        return out

    def __len__(self) -> int:
        return sum(self.counts.values()) + self.dropped


class Guard:
    """One turn's bounds: the text it holds, the warnings, and the checks the accumulator
    makes before anything from upstream is kept."""

    def __init__(self) -> None:
        self.notes = Warnings()
        self.chars = 0  # text held in all items, against MAX_CHARS
        self.limit = MAX_CHARS
        self.changed = False  # a warning was added since take_changed()

    def warn(self, kind: str, what: str) -> None:
        self.notes.add(kind, _TEXT.get(kind, "{what}").format(what=what))
        self.changed = True

    def take_changed(self) -> bool:
        changed, self.changed = self.changed, False
        return changed

    def take(self, replaced: int, text: str) -> str:
        """`text` in place of `replaced` characters, cut to the room MAX_CHARS leaves."""
        room = self.limit - self.chars + replaced
        if len(text) > room:
            self.warn(SIZE, f"text past {self.limit:,} characters")
            text = text[: max(room, 0)]
        self.chars += len(text) - replaced
        return text

    def grew(self, item: Any, size_before: int) -> None:
        """Account for an item whose text was replaced wholesale; cut it if over the limit."""
        others = self.chars - size_before
        if others + item.size() > self.limit:
            self.warn(SIZE, f"text past {self.limit:,} characters")
            item.clip(self.limit - others)
        self.chars = others + item.size()

    def has_room(self, items: int) -> bool:
        if items < MAX_ITEMS:
            return True
        self.warn(COUNT, f"more than {MAX_ITEMS} output items")
        return False

    def slot(self, values: list[Any], index: int | None, is_new: bool) -> int | None:
        """The explicit index when sent and in bounds; otherwise a new slot for `.added`, the
        last for the rest. None (dropped, with a warning) when out of bounds."""
        if index is None:
            slot = len(values) if is_new else max(len(values) - 1, 0)
            if slot < MAX_PARTS:
                return slot
            self.warn(COUNT, f"more than {MAX_PARTS} parts in an item")
            return None
        if 0 <= index < MAX_PARTS and index <= len(values) + MAX_INDEX_GAP:
            return index
        self.warn(INDEX, f"index {index}")
        return None


_TEXT = {
    MALFORMED: "Skipped a malformed event: {what}",
    INDEX: "Skipped an event from the model server with an out-of-range {what}.",
    COUNT: "Skipped an event from the model server: {what}.",
    SIZE: "Left out part of {what}: it was too large to keep.",
}


def pad(values: list[Any], index: int, make: Any) -> None:
    """Grow `values` to hold `index` (a bounded index: at most MAX_INDEX_GAP new slots)."""
    while len(values) <= index:
        values.append(make())


def short(value: Any) -> str | None:
    """An id, a name, a code: a string cut to MAX_ID_CHARS; anything else reads as missing."""
    return value[:MAX_ID_CHARS] if isinstance(value, str) else None


def message(value: Any) -> str | None:
    return value[:MAX_MESSAGE_CHARS] if isinstance(value, str) else None


MAX_OUTPUT_CHARS = 64_000  # one string of a hosted tool's fields


def bounded(value: Any, depth: int = 0) -> Any:
    """A JSON value cut to a size a page and a row can carry (upstream results can be huge)."""
    if isinstance(value, str):
        return value[:MAX_OUTPUT_CHARS]
    if depth > 6:
        return None
    if isinstance(value, list):
        return [bounded(v, depth + 1) for v in value[:100]]
    if isinstance(value, dict):
        return {str(k)[:100]: bounded(v, depth + 1) for k, v in list(value.items())[:100]}
    return value
