"""Lenient models of upstream stream events (responses-protocol.md §2, §10).

Real servers deviate from the documented schema: fields go missing (llama.cpp sends no
sequence_number, output_index or content_index), extra fields appear (obfuscation, timings,
cost), and error frames come flat, nested or chat-completions style. So every field is
optional, a field of the wrong type reads as missing, unknown event types and fields are
kept, and the JSON is parsed once with orjson before the model is built.
"""

from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WrapValidator

T = TypeVar("T")

TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})
MALFORMED = "client.malformed_event"


def _or_none(value: Any, handler: Any) -> Any:
    """A field of the wrong type is treated as absent rather than failing the event."""
    try:
        return handler(value)
    except ValidationError:
        return None


Lenient = Annotated[T | None, WrapValidator(_or_none)]
# Error codes arrive as strings from OpenAI and as HTTP numbers from llama.cpp.
Code = Annotated[Lenient[str], BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=False)


class ErrorInfo(_Lenient):
    code: Code = None
    message: Lenient[str] = None
    type: Lenient[str] = None
    param: Lenient[str] = None


class Usage(_Lenient):
    input_tokens: Lenient[int] = None
    input_tokens_details: Lenient[dict[str, Any]] = None
    output_tokens: Lenient[int] = None
    output_tokens_details: Lenient[dict[str, Any]] = None
    total_tokens: Lenient[int] = None

    def detail(self, group: str, name: str) -> int | None:
        details = self.input_tokens_details if group == "input" else self.output_tokens_details
        value = (details or {}).get(name)
        return value if isinstance(value, int) else None


class ResponseObject(_Lenient):
    id: Lenient[str] = None
    status: Lenient[str] = None
    model: Lenient[str] = None
    output: Lenient[list[dict[str, Any]]] = None
    usage: Lenient[Usage] = None
    error: Lenient[ErrorInfo] = None
    incomplete_details: Lenient[dict[str, Any]] = None
    background: Lenient[bool] = None


class StreamEvent(_Lenient):
    """One `data:` payload of the stream, addressed as loosely as the server allows."""

    type: str = "unknown"
    sequence_number: Lenient[int] = None
    output_index: Lenient[int] = None
    content_index: Lenient[int] = None
    summary_index: Lenient[int] = None
    annotation_index: Lenient[int] = None
    item_id: Lenient[str] = None
    delta: Any = None
    text: Lenient[str] = None
    arguments: Lenient[str] = None
    input: Lenient[str] = None
    refusal: Lenient[str] = None
    code: Code = None
    message: Lenient[str] = None
    param: Lenient[str] = None
    item: Lenient[dict[str, Any]] = None
    part: Lenient[dict[str, Any]] = None
    annotation: Lenient[dict[str, Any]] = None
    response: Lenient[ResponseObject] = None
    error: Lenient[ErrorInfo] = None

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_TYPES

    def error_info(self) -> ErrorInfo:
        """Nested `{"error": {...}}` (the live wire) first, then the flat documented shape (§8.1)."""
        nested = self.error or ErrorInfo()
        return ErrorInfo(
            code=nested.code or self.code or nested.type,
            message=nested.message or self.message or "The upstream reported an error.",
            type=nested.type,
            param=nested.param or self.param,
        )


def parse_event(data: str | bytes) -> StreamEvent:
    """Parse one SSE `data:` value; never raises: bad JSON becomes a MALFORMED event."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return StreamEvent(type=MALFORMED, message=_clip(data))
    if not isinstance(payload, dict):
        return StreamEvent(type=MALFORMED, message=_clip(data))
    if "type" not in payload and "error" in payload:
        # llama.cpp reports mid-stream failures chat-completions style: {"error": {...}}.
        payload["type"] = "error"
    if not isinstance(payload.get("type"), str):
        payload["type"] = "unknown"
    return StreamEvent.model_validate(payload)


def _clip(data: str | bytes, limit: int = 200) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text[:limit]
