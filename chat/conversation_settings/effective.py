"""A conversation's settings as a turn uses them: its stored choices over the deployment's
defaults, checked against what the model supports (catalog). The same dict is copied onto
each answer when it is asked (Message.settings), so history shows what produced what."""

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.conf import settings

from chat import context
from chat.conversation_settings import catalog

EFFORTS = ("minimal", "low", "medium", "high")
MAX_INSTRUCTIONS = 8000  # characters
KEYS = ("model", "instructions", "reasoning_effort", "temperature", "max_output_tokens",
        "tools_off")  # fmt: skip


@dataclass(frozen=True)
class ChatSettings:
    model: str
    instructions: str = ""
    reasoning_effort: str = ""  # "" = the model's own default
    temperature: float | None = None  # None = the server's default
    max_output_tokens: int = 0  # 0 = no limit sent
    tools_off: tuple[str, ...] = field(default_factory=tuple)  # function tools switched off

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tools_off"] = list(self.tools_off)
        return data

    @property
    def info(self) -> catalog.ModelInfo:
        return catalog.info(self.model)


def defaults() -> ChatSettings:
    """The deployment's settings (environment), for a conversation that chose nothing."""
    return ChatSettings(
        model=settings.CHAT_MODEL,
        instructions=settings.CHAT_INSTRUCTIONS,
        reasoning_effort=settings.CHAT_REASONING_EFFORT
        if settings.CHAT_REASONING_EFFORT in EFFORTS
        else "",
        max_output_tokens=settings.CHAT_MAX_OUTPUT_TOKENS,
    )


def of(stored: Any) -> ChatSettings:
    """A conversation's stored choices over the defaults; anything no longer valid (a model
    taken off the list, an effort it does not support) falls back rather than failing."""
    base = defaults()
    if not isinstance(stored, dict):
        return base
    data = {**base.to_dict(), **{k: v for k, v in stored.items() if k in KEYS}}
    chosen, _ = check(data, offered_only=False)
    return chosen if chosen is not None else base


def check(
    data: dict[str, Any], *, offered_only: bool = True
) -> tuple[ChatSettings | None, dict[str, str]]:
    """Validated settings, or None and a message per field in words a person understands.
    `offered_only=False` keeps a model the list no longer offers (one recorded on an answer,
    or named by `manage.py ask --model`)."""
    errors: dict[str, str] = {}
    model = str(data.get("model") or "")[:200]
    if not model or (offered_only and model not in catalog.catalog()):
        errors["model"] = "Choose one of the models this site offers."
        return None, errors
    info = catalog.info(model)
    instructions = str(data.get("instructions") or "")
    if len(instructions) > MAX_INSTRUCTIONS:
        errors["instructions"] = f"Instructions are limited to {MAX_INSTRUCTIONS:,} characters."
    elif context.estimate(instructions) > info.context_window // 4:
        # They go with every request: past a quarter of the window, little room is left.
        errors["instructions"] = (
            f"These instructions are too long for {model}: keep them under about "
            f"{info.context_window // 4 * context.CHARS_PER_TOKEN:,} characters."
        )
    effort = str(data.get("reasoning_effort") or "")
    if effort and effort not in EFFORTS:
        errors["reasoning_effort"] = "Choose minimal, low, medium or high."
    elif effort and not info.reasoning:
        errors["reasoning_effort"] = f"{model} does not reason: leave the effort empty."
    temperature = _number(data.get("temperature"), float)
    if temperature == "bad" or (temperature is not None and not 0 <= temperature <= 2):
        errors["temperature"] = "Temperature is a number from 0 to 2, or empty."
    elif temperature is not None and info.reasoning:
        errors["temperature"] = f"{model} reasons and takes no temperature: leave it empty."
    limit = _number(data.get("max_output_tokens"), int)
    if limit == "bad" or (limit is not None and not 0 <= limit <= info.context_window // 2):
        errors["max_output_tokens"] = (
            f"Max output tokens is a whole number up to {info.context_window // 2:,} "
            "(half the model's context), or 0 for no limit."
        )
    tools_off = data.get("tools_off") or []
    if not isinstance(tools_off, list | tuple) or not all(isinstance(t, str) for t in tools_off):
        errors["tools_off"] = "Choose among the tools this site offers."
    if errors:
        return None, errors
    return ChatSettings(
        model=model, instructions=instructions, reasoning_effort=effort,
        temperature=temperature, max_output_tokens=limit or 0,  # type: ignore[arg-type]
        tools_off=tuple(tools_off),
    ), {}  # fmt: skip


def with_model(chosen: ChatSettings, model: str) -> ChatSettings:
    return replace(chosen, model=model)


def _number(value: Any, kind: type) -> Any:
    """None for empty, the number, or "bad"."""
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return "bad"
    if kind is float and number != number:  # NaN
        return "bad"
    return number
