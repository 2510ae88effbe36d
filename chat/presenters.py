"""What templates show for a message, from a stored Message or a live TurnState alike.

Element ids are the wire contract with the browser: the relay appends streamed text to
`m{message}-i{item}-{field}-{index}` and replaces `m{message}-i{item}`, `m{message}-status`, ...
"""

import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.safestring import SafeString

from chat.models import Message
from chat.rendering import render_markdown, render_plain
from chat.tool_views import LABELS, HostedView, Link, citation_sources, hosted_view
from chat.upstream.errors import NEVER_RETRY_CODES

STATUS_LABELS = {
    "queued": "Queued",
    "streaming": "Writing…",
    "completed": "Completed",
    "incomplete": "Incomplete",
    "failed": "Failed",
    "cancelled": "Stopped",
    "interrupted": "Interrupted",
}
TOOL_CALL_TYPES = {"function_call", "custom_tool_call"}
# Streamed into a slot of a hosted item: (item type, field the deltas go to).
HOSTED_SLOTS = {"code_interpreter_call": "code", "mcp_call": "arguments"}


def dom_id(message_id: int, position: int | None = None, name: str = "", index: int = 0) -> str:
    if position is None:
        return f"m{message_id}"
    base = f"m{message_id}-i{position}"
    return f"{base}-{name}-{index}" if name else base


@dataclass
class Slot:
    """One piece of streamed text with the id the relay appends to."""

    id: str
    html: SafeString
    kind: str = "output_text"


@dataclass
class ItemView:
    id: str
    type: str
    kind: str  # message | reasoning | tool_call | tool_output | hosted | unknown
    status: str | None
    parts: list[Slot] = field(default_factory=list)
    summary: list[Slot] = field(default_factory=list)
    reasoning: list[Slot] = field(default_factory=list)
    arguments: Slot | None = None
    name: str | None = None
    hosted: HostedView | None = None
    output: str = ""  # a function tool's answer (untrusted: the template escapes it)
    sources: list[Link] = field(default_factory=list)
    raw_json: str = ""


@dataclass
class MessageView:
    id: int
    role: str
    status: str
    status_label: str
    live: bool
    items: list[ItemView]
    user_html: SafeString | None = None
    error_code: str = ""
    error_message: str = ""
    incomplete_reason: str = ""
    warnings: list[str] = field(default_factory=list)
    model: str = ""
    usage: dict[str, Any] | None = None
    ttft_ms: int | None = None
    duration_ms: int | None = None
    retry_allowed: bool = False
    continue_allowed: bool = False  # an incomplete answer goes on (chat/turns/continuation.py)
    asked_with: list[tuple[str, str]] = field(default_factory=list)  # the settings, recorded
    user_long: bool = False  # folded on the page, with a button to show it all
    nav: Any = None  # chat/tree.Nav: ‹ i/n › among its versions, when it has siblings
    source_text: str = ""  # a question's text, for its Edit box (escaped by the template)

    @property
    def has_text(self) -> bool:
        """Whether any answer text was written (a Stop before it says so in other words)."""
        return any(p.html for item in self.items for p in item.parts)

    @property
    def footer(self) -> list[tuple[str, str]]:
        """The footer's pieces as (text, tooltip), joined with " · " only between pieces."""
        bits: list[tuple[str, str]] = []
        if self.live:
            return bits
        if self.usage:
            u = self.usage
            note = " (estimated)" if u["estimated"] else ""
            cached = f", of which {u['cached']} cached" if u["cached"] else ""
            reasoning = f", of which {u['reasoning']} reasoning" if u["reasoning"] else ""
            bits.append((f"{u['input']} in", f"input tokens{cached}"))
            bits.append((f"{u['output']} out{note}", f"output tokens{reasoning}"))
        if self.ttft_ms is not None:
            bits.append((f"first token {self.ttft_ms} ms", ""))
        if self.duration_ms is not None:
            bits.append((f"{self.duration_ms} ms total", ""))
        if self.model:
            bits.append((self.model, ""))
        return bits + self.asked_with


def item_view(message_id: int, position: int, item: dict[str, Any], final: bool) -> ItemView:
    kind = _kind(item["type"])
    view = ItemView(
        id=dom_id(message_id, position), type=item["type"], kind=kind, status=item.get("status")
    )
    if kind == "message":
        view.parts = [
            Slot(
                dom_id(message_id, position, "text" if p["kind"] != "refusal" else "refusal", i),
                render_markdown(p["text"])
                if final and p["kind"] != "refusal"
                else render_plain(p["text"]),
                p["kind"],
            )
            for i, p in enumerate(item.get("parts", []))
        ]
        view.sources = citation_sources(item.get("parts", []))
    elif kind == "reasoning":
        view.summary = _slots(message_id, position, "summary", item.get("summary", []), final)
        view.reasoning = _slots(message_id, position, "reasoning", item.get("reasoning", []), False)
    elif kind == "tool_call":
        field_name = "input" if item["type"] == "custom_tool_call" else "arguments"
        view.name = item.get("name")
        view.arguments = Slot(
            dom_id(message_id, position, field_name, 0), render_plain(item.get(field_name) or "")
        )
    elif kind == "tool_output":
        view.name = item.get("name")
        view.output = item.get("output") or ""
    elif kind == "hosted":
        view.hosted = hosted_view(item, live=not final)
        slot = HOSTED_SLOTS.get(item["type"])
        if slot:
            view.arguments = Slot(
                dom_id(message_id, position, slot, 0), render_plain(item.get(slot) or "")
            )
    else:
        view.raw_json = json.dumps(item.get("raw") or {}, indent=2, ensure_ascii=False)[:4000]
    return view


def message_view(message: Message) -> MessageView:
    """A stored message, rendered as final (markdown) unless it is still live."""
    final = not message.is_live
    items = [item_view(message.pk, i, it, final) for i, it in enumerate(message.items or [])]
    if message.role == Message.Role.ASSISTANT and not items and message.text:
        # Rows checkpointed without items still show their text.
        items = [
            item_view(
                message.pk,
                0,
                {"type": "message", "parts": [{"kind": "output_text", "text": message.text}]},
                final,
            )
        ]
    view = MessageView(
        id=message.pk,
        role=message.role,
        status=message.status,
        status_label=STATUS_LABELS.get(message.status, message.status),
        live=message.is_live,
        items=items,
        user_html=render_plain(message.text) if message.role == Message.Role.USER else None,
        error_code=message.error_code,
        error_message=message.error_message,
        incomplete_reason=message.incomplete_reason,
        warnings=list(message.warnings or []),
        model=message.model,
        retry_allowed=message.status in ("failed", "interrupted", "incomplete", "cancelled")
        and message.error_code not in NEVER_RETRY_CODES,
        continue_allowed=message.status == "incomplete",
        user_long=message.role == Message.Role.USER and is_long_message(message.text),
        nav=getattr(message, "nav", None),  # set by chat/branches.py for the branch on screen
        source_text=message.text if message.role == Message.Role.USER else "",
    )
    view.asked_with = asked_with(message.settings)
    usage = _usage_of(message)
    view.usage = usage
    view.ttft_ms = _ms(message.queued_at, message.first_token_at)
    view.duration_ms = _ms(message.queued_at, message.done_at)
    return view


def asked_with(recorded: Any) -> list[tuple[str, str]]:
    """The settings an answer was asked with, for its footer (the instructions as a tip)."""
    if not isinstance(recorded, dict) or not recorded:
        return []
    bits: list[tuple[str, str]] = []
    if recorded.get("reasoning_effort"):
        bits.append((f"effort {recorded['reasoning_effort']}", "reasoning effort"))
    if recorded.get("temperature") is not None:
        bits.append((f"temperature {recorded['temperature']}", ""))
    if recorded.get("max_output_tokens"):
        bits.append((f"max {recorded['max_output_tokens']} tokens", "max output tokens"))
    if recorded.get("instructions"):
        bits.append(("instructions", str(recorded["instructions"])[:500]))
    return bits


# A person's message past either bound is folded (a pasted log should not fill the screen).
FOLD_CHARS = 1200
FOLD_LINES = 16


def is_long_message(text: str) -> bool:
    return len(text) > FOLD_CHARS or text.count("\n") >= FOLD_LINES


def _kind(item_type: str) -> str:
    if item_type in ("message", "reasoning"):
        return item_type
    if item_type in TOOL_CALL_TYPES:
        return "tool_call"
    if item_type == "function_call_output":
        return "tool_output"
    if item_type in LABELS:
        return "hosted"
    return "unknown"


def _slots(message_id: int, position: int, name: str, texts: list[str], final: bool) -> list[Slot]:
    return [
        Slot(
            dom_id(message_id, position, name, i), render_markdown(t) if final else render_plain(t)
        )
        for i, t in enumerate(texts)
    ]


def _usage_of(message: Message) -> dict[str, Any] | None:
    records = getattr(message, "prefetched_usage", None)
    if records is None:
        records = (
            list(message.usage_records.all()) if message.pk and message.role == "assistant" else []
        )
    if not records:
        return None
    # A turn of several rounds has a row per round: the footer shows their sum.
    return {
        "input": sum(r.input_tokens for r in records),
        "cached": sum(r.cached_tokens for r in records),
        "output": sum(r.output_tokens for r in records),
        "reasoning": sum(r.reasoning_tokens for r in records),
        "estimated": any(r.estimated for r in records),
    }


def _ms(start: Any, end: Any) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() * 1000))
