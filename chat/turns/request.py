"""The request body of one round of a turn (responses-protocol.md §1, §7): the turn's input,
then what its earlier rounds produced, statelessly; tools, reasoning and deployment options."""

from typing import Any

from django.conf import settings

from chat.conversation_settings.effective import ChatSettings
from chat.tools import hosted
from chat.tools.registry import declarations
from chat.turns.replay import input_items
from chat.turns.state import TurnState


def round_body(
    *,
    chosen: ChatSettings,
    turn_input: list[dict[str, Any]],
    state: TurnState,
    function_tools: bool,
    hosted_tools: tuple[str, ...],
    earlier: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`chosen`: the turn's settings (chat/conversation_settings/effective.py), sent only
    where the model supports them. `earlier`: this turn's items as input, when the caller
    built them (a continued message puts an approval answer among them); else all of the
    state's items."""
    if earlier is None:
        earlier = (
            input_items([i.to_dict() for i in state.items], reasoning=not settings.CHAT_STORE)
            if state.items
            else []
        )
    info = chosen.info
    body: dict[str, Any] = {"model": chosen.model, "input": [*turn_input, *earlier]}
    if function_tools and info.tools:
        tools = [d for d in declarations() if d.get("name") not in chosen.tools_off]
        if tools:
            body["tools"] = tools
    body.update(reasoning_options(chosen))
    if chosen.instructions:
        body["instructions"] = chosen.instructions
    if chosen.max_output_tokens:
        body["max_output_tokens"] = chosen.max_output_tokens
    if chosen.temperature is not None and not info.reasoning:
        body["temperature"] = chosen.temperature
    if settings.CHAT_BACKGROUND and info.background:
        # Stored upstream and resumable: a turn outlives a crash of this process.
        body["background"] = True
        body["store"] = True
    hosted.add_to_body(body, hosted_tools)
    return body


def reasoning_options(chosen: ChatSettings) -> dict[str, Any]:
    """Reasoning summaries for models that reason; with `store: false`, their encrypted
    reasoning comes back so the next request can carry it (responses-protocol.md §7)."""
    options: dict[str, Any] = {}
    reasons = chosen.info.reasoning
    if reasons:
        effort = chosen.reasoning_effort
        options["reasoning"] = {"summary": "auto", **({"effort": effort} if effort else {})}
    if not settings.CHAT_STORE and not (settings.CHAT_BACKGROUND and chosen.info.background):
        options["store"] = False
        if reasons:
            options["include"] = ["reasoning.encrypted_content"]
    return options
