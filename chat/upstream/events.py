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
        payload = _loads_replacing(data)
    if not isinstance(payload, dict):
        return StreamEvent(type=MALFORMED, message=_clip(data))
    if "type" not in payload and "error" in payload:
        # llama.cpp reports mid-stream failures chat-completions style: {"error": {...}}.
        payload["type"] = "error"
    if not isinstance(payload.get("type"), str):
        payload["type"] = "unknown"
    event = _construct(payload)
    return event if event is not None else StreamEvent.model_validate(payload)


def _loads_replacing(data: str | bytes) -> Any:
    """Bytes that are not valid UTF-8 read as text with U+FFFD, as httpx's text decoding did."""
    if isinstance(data, bytes):
        try:
            return orjson.loads(data.decode("utf-8", "replace"))
        except orjson.JSONDecodeError:
            pass
    return None


# The fast path (deltas are nearly every event of a stream). model_validate calls the Python
# leniency wrapper once per field sent, and pydantic's model_construct loops over all 21
# declared fields in Python (measured: ~5 and ~12 µs a delta). When every field sent is a
# plain value of its declared type or null, as in every delta, validation would keep each
# value as it is, so the event is built directly (~2.5 µs); anything else is validated.
_ANY = object  # `type` (a str by now) and `delta` take any value
_KINDS: dict[str, type | None] = {
    **{name: None for name in StreamEvent.model_fields},  # nested or converted: null only
    **{name: int for name in ("sequence_number", "output_index", "content_index")},
    **{name: int for name in ("summary_index", "annotation_index")},
    **{name: str for name in ("item_id", "text", "arguments", "input", "refusal")},
    **{name: str for name in ("code", "message", "param")},
    "type": _ANY,
    "delta": _ANY,
}
_DEFAULTS = {name: field.default for name, field in StreamEvent.model_fields.items()}
# The defaults are shared by every event built here, not copied: fine while all are immutable.
assert all(value is None or isinstance(value, str) for value in _DEFAULTS.values())
_EXTRA: Any = object()  # not a declared field: kept as sent (extra="allow")
_new = object.__new__
_set = object.__setattr__


def _construct(payload: dict[str, Any]) -> StreamEvent | None:
    """The StreamEvent model_validate would build, or None if validation would convert."""
    values = _DEFAULTS.copy()
    extra = {}
    kind_of = _KINDS.get
    for name, value in payload.items():
        kind = kind_of(name, _EXTRA)
        if kind is _EXTRA:
            extra[name] = value
        elif kind is _ANY or type(value) is kind or value is None:
            values[name] = value
        else:
            return None  # bool or float for an int, a dict, a number for a code...
    # What model_construct sets, with validation's fields-set (which counts the extras).
    event = _new(StreamEvent)
    _set(event, "__dict__", values)
    _set(event, "__pydantic_extra__", extra)
    _set(event, "__pydantic_fields_set__", set(payload))
    _set(event, "__pydantic_private__", None)
    return event


def _clip(data: str | bytes, limit: int = 200) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text[:limit]
