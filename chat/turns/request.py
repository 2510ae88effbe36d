"""The request body of one round of a turn (responses-protocol.md §1, §7): the turn's input,
then what its earlier rounds produced, statelessly; tools, reasoning and deployment options."""

from typing import Any

from django.conf import settings

from chat.tools import hosted
from chat.tools.registry import declarations
from chat.turns.replay import input_items
from chat.turns.state import TurnState


def round_body(
    *,
    model: str,
    turn_input: list[dict[str, Any]],
    state: TurnState,
    function_tools: bool,
    hosted_tools: tuple[str, ...],
    earlier: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`earlier`: this turn's items as input, when the caller built them (a continued
    message puts an approval answer among them); else all of the state's items."""
    if earlier is None:
        earlier = (
            input_items([i.to_dict() for i in state.items], reasoning=not settings.CHAT_STORE)
            if state.items
            else []
        )
    body: dict[str, Any] = {"model": model, "input": [*turn_input, *earlier]}
    if function_tools:
        body["tools"] = declarations()
    body.update(reasoning_options(model))
    if settings.CHAT_INSTRUCTIONS:
        body["instructions"] = settings.CHAT_INSTRUCTIONS
    if settings.CHAT_MAX_OUTPUT_TOKENS:
        body["max_output_tokens"] = settings.CHAT_MAX_OUTPUT_TOKENS
    if settings.CHAT_BACKGROUND:
        # Stored upstream and resumable: a turn outlives a crash of this process.
        body["background"] = True
        body["store"] = True
    hosted.add_to_body(body, hosted_tools)
    return body


def reasoning_options(model: str) -> dict[str, Any]:
    """Reasoning summaries for models that reason; with `store: false`, their encrypted
    reasoning comes back so the next request can carry it (responses-protocol.md §7)."""
    options: dict[str, Any] = {}
    reasons = model.startswith(tuple(settings.CHAT_REASONING_MODELS))
    if reasons:
        effort = settings.CHAT_REASONING_EFFORT
        options["reasoning"] = {"summary": "auto", **({"effort": effort} if effort else {})}
    if not settings.CHAT_STORE and not settings.CHAT_BACKGROUND:
        options["store"] = False
        if reasons:
            options["include"] = ["reasoning.encrypted_content"]
    return options
