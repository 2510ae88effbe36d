"""The pieces an assistant message is built from, as the accumulator keeps them."""

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from chat.turns.bounds import (
    MAX_ANNOTATIONS,
    MAX_ID_CHARS,
    MAX_JSON_BYTES,
    MAX_PARTS,
    MAX_RAW_BYTES,
    bounded,
    pad,
)

# Where streamed text goes inside an item, by the delta event's type.
DELTA_FIELDS = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "refusal",
    "response.reasoning_summary_text.delta": "summary",
    "response.reasoning_text.delta": "reasoning",
    "response.function_call_arguments.delta": "arguments",
    "response.mcp_call_arguments.delta": "arguments",
    "response.custom_tool_call_input.delta": "input",
    "response.code_interpreter_call_code.delta": "code",
}
# The matching `.done` events and the field of the event that holds the full value.
DONE_FIELDS = {
    "response.output_text.done": ("text", "text"),
    "response.refusal.done": ("refusal", "refusal"),
    "response.reasoning_summary_text.done": ("summary", "text"),
    "response.reasoning_text.done": ("reasoning", "text"),
    "response.function_call_arguments.done": ("arguments", "arguments"),
    "response.mcp_call_arguments.done": ("arguments", "arguments"),
    "response.custom_tool_call_input.done": ("input", "input"),
    "response.code_interpreter_call_code.done": ("code", "code"),
}
# An item type to create when a delta arrives before its `output_item.added`.
IMPLIED_ITEM_TYPE = {
    "text": "message",
    "refusal": "message",
    "summary": "reasoning",
    "reasoning": "reasoning",
    "arguments": "function_call",
    "input": "custom_tool_call",
    "code": "code_interpreter_call",
}
LIST_FIELDS = {"summary", "reasoning"}  # one string per summary part / reasoning part
# Opaque or huge values we never keep (they can be megabytes and mean nothing to a person).
DROPPED_KEYS = {"encrypted_content", "result", "partial_image_b64"}
# A reasoning item's encrypted_content is kept (it is sent back on stateless requests) up to
# this size; a larger one is dropped rather than stored.
MAX_ENCRYPTED_CHARS = 100_000


@dataclass
class Part:
    """A content part of a message: answer text (with annotations) or a refusal.

    `text` reads and writes as a plain field; `add` appends a delta without copying the text
    so far (it is joined when next read). `part.text += delta` copied the whole text on every
    delta: quadratic, seconds of CPU for a long answer streamed in small deltas."""

    kind: str = "output_text"
    text: str = ""
    annotations: list[dict[str, Any]] = field(default_factory=list)

    def add(self, delta: str) -> None:
        self._pending.append(delta)


def _part_text(part: Part) -> str:
    pending = part._pending
    if pending:
        pending.insert(0, part._text)
        part._text = "".join(pending)
        pending.clear()
    return part._text


def _set_part_text(part: Part, value: str) -> None:
    part._text = value
    part._pending = []


# After the dataclass is made: its __init__, eq, repr and asdict go through the property.
Part.text = property(_part_text, _set_part_text)  # type: ignore[assignment]


@dataclass
class Item:
    """One output item: a message, reasoning, a tool call, or an unknown item kept raw."""

    type: str
    id: str | None = None
    output_index: int | None = None
    status: str | None = None
    parts: list[Part] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    name: str | None = None
    call_id: str | None = None
    arguments: str = ""
    input: str = ""
    code: str = ""
    output: str = ""  # a function_call_output: what our tool answered (untrusted text)
    encrypted_content: str = ""  # reasoning carried over on stateless requests
    raw: dict[str, Any] = field(default_factory=dict)
    # The latest partial image of an image_generation_call (a bounded data: URL), shown
    # while it is drawn; emptied when the final image arrives (that one goes to storage).
    preview: str = ""

    def text_of(self, kind: str) -> str:
        return "".join(p.text for p in self.parts if p.kind == kind)

    def get_text(self, name: str, index: int) -> str:
        """The text a delta of field `name` (DELTA_FIELDS) at `index` goes to; the slot is made
        if missing (the index is bounded already: see bounds.Guard.slot)."""
        if name in LIST_FIELDS:
            values = getattr(self, name)
            pad(values, index, str)
            return values[index]
        if name in ("text", "refusal"):
            kind = "output_text" if name == "text" else "refusal"
            pad(self.parts, index, lambda: Part(kind=kind))
            return self.parts[index].text
        return getattr(self, name)

    def set_text(self, name: str, index: int, value: str) -> None:
        if name in LIST_FIELDS:
            getattr(self, name)[index] = value
        elif name in ("text", "refusal"):
            self.parts[index].text = value
        else:
            setattr(self, name, value)

    def size(self) -> int:
        """Characters of text held (what bounds.MAX_CHARS counts)."""
        return (
            sum(len(p.text) for p in self.parts)
            + sum(map(len, self.summary))
            + sum(map(len, self.reasoning))
            + len(self.arguments)
            + len(self.input)
            + len(self.code)
        )

    def clip(self, limit: int) -> None:
        """Cut the text so that size() <= limit, keeping what came first."""
        room = limit
        for part in self.parts:
            part.text = part.text[: max(room, 0)]
            room -= len(part.text)
        for values in (self.summary, self.reasoning):
            for i, value in enumerate(values):  # each slot takes from the room left
                values[i] = value[: max(room, 0)]
                room -= len(values[i])
        for key in ("arguments", "input", "code"):
            setattr(self, key, getattr(self, key)[: max(room, 0)])
            room -= len(getattr(self, key))

    def update_from(self, data: dict[str, Any]) -> bool:
        """Take what an `output_item.added/.done` or terminal `output[]` entry says;
        True when something had to be left out (too many parts, too large)."""
        self.id = _str(data.get("id")) or self.id
        self.status = _str(data.get("status")) or self.status
        self.name = _str(data.get("name")) or self.name
        self.call_id = _str(data.get("call_id")) or self.call_id
        for key in ("arguments", "input", "code"):
            value = data.get(key)
            if isinstance(value, str) and value:
                setattr(self, key, value)
        cut = False
        content = data.get("content")
        if isinstance(content, list) and self.type == "message":
            cut = len(content) > MAX_PARTS
            parts = [_part_from(p) for p in content[:MAX_PARTS] if isinstance(p, dict)]
            if parts:
                self.parts = parts
        if self.type == "reasoning":
            cut = self._reasoning_from(data) or cut
            secret = data.get("encrypted_content")
            if isinstance(secret, str) and len(secret) <= MAX_ENCRYPTED_CHARS:
                self.encrypted_content = secret
        # Everything else it says (a message's role and phase, a tool's results), bounded;
        # a message's content lives in `parts`.
        extra = (
            {k: v for k, v in data.items() if k != "content"} if self.type == "message" else data
        )
        self.raw = _merged_raw(self.raw, extra)
        if json_size(self.raw) > MAX_RAW_BYTES:
            self.raw, cut = _small_fields(self.raw), True
        return cut

    def _reasoning_from(self, data: dict[str, Any]) -> bool:
        cut = False
        for key, target in (("summary", "summary"), ("content", "reasoning")):
            entries = data.get(key)
            if not isinstance(entries, list):
                continue
            cut = cut or len(entries) > MAX_PARTS
            texts = [_text(e.get("text")) for e in entries[:MAX_PARTS] if isinstance(e, dict)]
            if texts:
                setattr(self, target, texts)
        return cut

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Item":
        parts = [Part(**p) for p in data.get("parts", [])]
        return cls(**{**data, "parts": parts})


def _merged_raw(old: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The item's fields as sent (bounded); what only the stream built (a shell call's
    commands, its output) survives a later `.done` or `output` entry that sends it empty."""
    return merge_raw(old, {k: bounded(v) for k, v in data.items() if k not in DROPPED_KEYS})


def merge_raw(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` wins, except where it is empty and `old` has a value (nested dicts alike)."""
    raw = dict(old)
    for key, value in new.items():
        if key in raw and value in (None, "", [], {}):
            continue
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            value = merge_raw(raw[key], value)
        raw[key] = value
    return raw


def new_item(data: dict[str, Any], output_index: int | None) -> Item:
    return build_item(data, output_index)[0]


def build_item(data: dict[str, Any], output_index: int | None) -> tuple[Item, bool]:
    """A new item and whether something had to be left out of it (see update_from)."""
    item = Item(type=_str(data.get("type")) or "unknown", output_index=output_index)
    return item, item.update_from(data)


def _part_from(data: dict[str, Any]) -> Part:
    kind = _str(data.get("type")) or "output_text"
    if kind == "refusal":
        return Part(kind=kind, text=_text(data.get("refusal")))
    annotations = data.get("annotations")
    kept = [
        a
        for a in (annotations if isinstance(annotations, list) else [])[:MAX_ANNOTATIONS]
        if annotation_ok(a)
    ]
    return Part(kind=kind, text=_text(data.get("text")), annotations=kept)


def annotation_ok(value: Any) -> bool:
    return isinstance(value, dict) and json_size(value) <= MAX_JSON_BYTES


def json_size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except TypeError:  # not JSON at all (cannot come from orjson.loads, but never raise)
        return MAX_RAW_BYTES + 1


def _small_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """What is left to show of an item whose fields are too large to keep: the short ones."""
    return {
        str(k)[:MAX_ID_CHARS]: v
        for k, v in list(raw.items())[:64]
        if v is None
        or isinstance(v, bool | int | float)
        or (isinstance(v, str) and len(v) <= MAX_ID_CHARS)
    }


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str(value: Any) -> str | None:
    """A short string (an id, a name, a status); anything else reads as missing."""
    return value[:MAX_ID_CHARS] if isinstance(value, str) else None
