"""The pieces an assistant message is built from, as the accumulator keeps them."""

from dataclasses import asdict, dataclass, field
from typing import Any

from chat.turns.hosted_events import bounded

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
    """A content part of a message: answer text (with annotations) or a refusal."""

    kind: str = "output_text"
    text: str = ""
    annotations: list[dict[str, Any]] = field(default_factory=list)


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

    def update_from(self, data: dict[str, Any]) -> None:
        """Take what an `output_item.added/.done` or terminal `output[]` entry says."""
        self.id = _str(data.get("id")) or self.id
        self.status = _str(data.get("status")) or self.status
        self.name = _str(data.get("name")) or self.name
        self.call_id = _str(data.get("call_id")) or self.call_id
        for key in ("arguments", "input", "code"):
            value = data.get(key)
            if isinstance(value, str) and value:
                setattr(self, key, value)
        if isinstance(data.get("content"), list) and self.type == "message":
            parts = [_part_from(p) for p in data["content"] if isinstance(p, dict)]
            if parts:
                self.parts = parts
        if self.type == "reasoning":
            self._reasoning_from(data)
            secret = data.get("encrypted_content")
            if isinstance(secret, str) and len(secret) <= MAX_ENCRYPTED_CHARS:
                self.encrypted_content = secret
        # Everything else it says (a message's role and phase, a tool's results), bounded;
        # a message's content lives in `parts`.
        extra = (
            {k: v for k, v in data.items() if k != "content"} if self.type == "message" else data
        )
        self.raw = _merged_raw(self.raw, extra)

    def _reasoning_from(self, data: dict[str, Any]) -> None:
        summary = [s.get("text", "") for s in data.get("summary") or [] if isinstance(s, dict)]
        if summary:
            self.summary = summary
        content = [c.get("text", "") for c in data.get("content") or [] if isinstance(c, dict)]
        if content:
            self.reasoning = content

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
    item = Item(type=_str(data.get("type")) or "unknown", output_index=output_index)
    item.update_from(data)
    return item


def _part_from(data: dict[str, Any]) -> Part:
    kind = _str(data.get("type")) or "output_text"
    if kind == "refusal":
        return Part(kind=kind, text=_str(data.get("refusal")) or "")
    annotations = [a for a in data.get("annotations") or [] if isinstance(a, dict)]
    return Part(kind=kind, text=_str(data.get("text")) or "", annotations=annotations)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
