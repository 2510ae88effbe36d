"""The models people may choose (CHAT_MODELS) and what each supports.

An entry is `name:context_window:features`, features joined by `+` from reasoning, tools and
background, e.g. `gpt-5-mini:400000:reasoning+tools+background`. What a model does not
support is never sent to it (no reasoning effort for a model that does not reason).
"""

from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

FEATURES = frozenset({"reasoning", "tools", "background"})
DEFAULT_CONTEXT = 128_000  # a model named without a window: today's common size
LOCAL_CONTEXT = 2048  # the embedded model's context per slot (chat/local_model.py)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context_window: int
    reasoning: bool = False
    tools: bool = False
    background: bool = False


def parse(entry: str) -> ModelInfo:
    """One CHAT_MODELS entry; a bad one stops the server with a message saying which."""
    name, _, rest = entry.strip().partition(":")
    window_text, _, features_text = rest.partition(":")
    features = {f for f in features_text.split("+") if f}
    if not name or (window_text and not window_text.isdigit()) or features - FEATURES:
        raise ImproperlyConfigured(
            f"CHAT_MODELS entry {entry!r}: use name:context_window:features, features from "
            f"{', '.join(sorted(FEATURES))} joined by +"
        )
    window = int(window_text) if window_text else DEFAULT_CONTEXT
    if window < 256:
        raise ImproperlyConfigured(f"CHAT_MODELS entry {entry!r}: a context window under 256")
    return ModelInfo(name, window, **{f: True for f in features})


@cache
def _catalog(
    entries: tuple[str, ...], default: str, reasoning: tuple[str, ...]
) -> dict[str, ModelInfo]:
    models = {info.name: info for info in map(parse, entries)}
    if default not in models:  # CHAT_MODEL is always offered, first
        models = {default: unlisted(default, reasoning), **models}
    return models


def unlisted(name: str, reasoning: tuple[str, ...] | None = None) -> ModelInfo:
    """A model the list does not describe (CHAT_MODEL alone, an old conversation's): what the
    deployment configured decides (CHAT_TOOLS, CHAT_BACKGROUND, CHAT_REASONING_MODELS)."""
    prefixes = tuple(settings.CHAT_REASONING_MODELS) if reasoning is None else reasoning
    return ModelInfo(name, DEFAULT_CONTEXT, reasoning=name.startswith(prefixes), tools=True,
                     background=True)  # fmt: skip


def catalog() -> dict[str, ModelInfo]:
    """Every model offered, the default (CHAT_MODEL) among them; the embedded local model
    alone when it answers (it serves one model, with a 2048-token context)."""
    if settings.USE_LOCAL_MODEL:
        return _catalog((f"{settings.CHAT_MODEL}:{LOCAL_CONTEXT}",), settings.CHAT_MODEL, ())
    reasoning = tuple(settings.CHAT_REASONING_MODELS)
    return _catalog(tuple(settings.CHAT_MODELS), settings.CHAT_MODEL, reasoning)


def info(name: str) -> ModelInfo:
    """A model's facts; one no longer configured (an old conversation's) gets the smallest
    window offered, so its input is never too long."""
    models = catalog()
    if name in models:
        return models[name]
    smallest = min(m.context_window for m in models.values())
    return ModelInfo(**{**unlisted(name).__dict__, "context_window": smallest})
