"""The facts of every answer in a conversation, for the transcript review page.

Per answer: status and reason, error, the model asked and the model that answered, each
round (one upstream response: its id, usage and cost from the ledger), tool calls with their
results, reasoning summaries, citations, time to first token, tokens per second, duration.
Ledger fields that only some versions of the ledger have (cost, requested_model) are read
when present.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from chat.models import Conversation, Message
from chat.presenters import STATUS_LABELS

TOOL_CALLS = {"function_call", "custom_tool_call", "mcp_call"}
TOOL_RESULTS = {"function_call_output", "custom_tool_call_output", "mcp_call_output"}
MAX_SHOWN_CHARS = 4000  # tool arguments and results are clipped on this page


@dataclass
class Round:
    response_id: str
    model: str
    requested_model: str
    status: str
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    reasoning_tokens: int
    total_tokens: int
    estimated: bool
    cost: Decimal | None
    at: datetime


@dataclass
class ToolCall:
    name: str
    call_id: str
    arguments: str
    status: str
    result: str | None = None


@dataclass
class AnswerFacts:
    id: int
    question: str
    text: str
    status: str
    status_label: str
    reason: str
    error_code: str
    error_message: str
    model_asked: str
    model_answered: str
    response_ids: list[str]
    rounds: list[Round]
    tool_calls: list[ToolCall]
    hosted_tools: list[str]
    reasoning: list[str]
    citations: list[dict[str, str]]
    ttft_ms: int | None
    duration_ms: int | None
    tokens_per_second: float | None
    warnings: list[str] = field(default_factory=list)

    @property
    def usage_total(self) -> dict[str, Any]:
        cost = [r.cost for r in self.rounds if r.cost is not None]
        return {
            "input": sum(r.input_tokens for r in self.rounds),
            "output": sum(r.output_tokens for r in self.rounds),
            "cost": sum(cost, Decimal(0)) if cost else None,
        }


def answers(conversation: Conversation) -> list[AnswerFacts]:
    messages = list(
        Message.objects.filter(conversation=conversation)
        .prefetch_related("usage_records")
        .order_by("created_at", "id")
    )
    out: list[AnswerFacts] = []
    question = ""
    for message in messages:
        if message.role == Message.Role.USER:
            question = message.text
        else:
            out.append(answer_facts(message, question))
    return out


def answer_facts(message: Message, question: str = "") -> AnswerFacts:
    records = sorted(message.usage_records.all(), key=lambda r: (r.created_at, r.pk))
    rounds = [_round(r) for r in records]
    items = message.items or []
    output_tokens = sum(r.output_tokens for r in rounds)
    return AnswerFacts(
        id=message.pk,
        question=question,
        text=message.text,
        status=message.status,
        status_label=STATUS_LABELS.get(message.status, message.status),
        reason=message.incomplete_reason,
        error_code=message.error_code,
        error_message=message.error_message,
        model_asked=next((r.requested_model for r in rounds if r.requested_model), message.model),
        model_answered=rounds[-1].model if rounds else message.model,
        response_ids=_unique([*(r.response_id for r in rounds), message.response_id]),
        rounds=rounds,
        tool_calls=_tool_calls(items),
        hosted_tools=[
            str(i.get("type"))
            for i in items
            if str(i.get("type", "")).endswith("_call") and i.get("type") not in TOOL_CALLS
        ],  # fmt: skip
        reasoning=[s for i in items if i.get("type") == "reasoning" for s in i.get("summary", [])],
        citations=_citations(items),
        ttft_ms=_ms(message.queued_at, message.first_token_at),
        duration_ms=_ms(message.queued_at, message.done_at),
        tokens_per_second=_rate(output_tokens, message.first_token_at, message.done_at),
        warnings=[str(w) for w in message.warnings or []],
    )


def _round(record: Any) -> Round:
    cost = getattr(record, "cost", None)
    return Round(
        response_id=record.response_id,
        model=record.model,
        requested_model=getattr(record, "requested_model", "") or "",
        status=record.status,
        input_tokens=record.input_tokens,
        cached_tokens=record.cached_tokens,
        output_tokens=record.output_tokens,
        reasoning_tokens=record.reasoning_tokens,
        total_tokens=record.total_tokens,
        estimated=record.estimated,
        cost=Decimal(cost) if cost is not None else None,
        at=record.created_at,
    )


def _tool_calls(items: list[dict[str, Any]]) -> list[ToolCall]:
    calls: list[ToolCall] = []
    by_id: dict[str, ToolCall] = {}
    for item in items:
        kind = item.get("type")
        raw = item.get("raw") or {}
        if kind in TOOL_CALLS:
            call = ToolCall(
                name=str(item.get("name") or kind),
                call_id=str(item.get("call_id") or raw.get("call_id") or ""),
                arguments=str(item.get("arguments") or item.get("input") or "")[:MAX_SHOWN_CHARS],
                status=str(item.get("status") or ""),
                result=_clip(raw.get("output")) if kind == "mcp_call" else None,
            )
            calls.append(call)
            by_id[call.call_id] = call
        elif kind in TOOL_RESULTS:
            call_id = str(item.get("call_id") or raw.get("call_id") or "")
            output = item.get("output", raw.get("output"))
            if call_id in by_id:
                by_id[call_id].result = _clip(output)
    return calls


def _citations(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    seen: dict[str, dict[str, str]] = {}
    for item in items:
        for part in item.get("parts", []) if item.get("type") == "message" else []:
            for note in part.get("annotations", []):
                url = note.get("url")
                if isinstance(url, str) and url.startswith(("https://", "http://")):
                    seen.setdefault(url, {"url": url, "title": str(note.get("title") or url)})
    return list(seen.values())


def _clip(value: Any) -> str | None:
    if value is None:
        return None
    return (value if isinstance(value, str) else str(value))[:MAX_SHOWN_CHARS]


def _unique(values: list[str]) -> list[str]:
    return [v for i, v in enumerate(values) if v and v not in values[:i]]


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds() * 1000))


def _rate(tokens: int, start: datetime | None, end: datetime | None) -> float | None:
    """Output tokens per second of generation (first token to the end)."""
    if not tokens or start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return round(tokens / seconds, 1) if seconds > 0 else None
