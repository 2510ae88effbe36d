"""Answering a round's function calls: each one validated, run concurrently with a timeout,
and turned into the text of its `function_call_output`. Nothing here raises: an unknown tool,
bad arguments, an exception or a timeout each become an error output the model can read."""

import asyncio
import inspect
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from pydantic import ValidationError

from chat.tools.registry import Tool, ToolContext, ToolError
from chat.turns.items import Item

log = logging.getLogger(__name__)
MAX_ARGUMENT_CHARS = 64_000


@dataclass(frozen=True)
class Call:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Answer:
    call_id: str
    output: str
    ok: bool

    def as_item(self, name: str | None) -> Item:
        """The `function_call_output` item the message shows and the next round sends."""
        status = "completed" if self.ok else "failed"
        return Item(
            type="function_call_output", call_id=self.call_id, name=name, output=self.output,
            status=status,
        )  # fmt: skip


async def answer_calls(
    calls: list[Call], *, tools: dict[str, Tool], context: ToolContext
) -> list[Answer]:
    """One answer per call, in the calls' order; at most CHAT_MAX_TOOL_CALLS are run."""
    limit = settings.CHAT_MAX_TOOL_CALLS
    runs = [_answer(call, tools, context) for call in calls[:limit]]
    answers = list(await asyncio.gather(*runs))
    for call in calls[limit:]:
        answers.append(_error(call, f"Too many tool calls in one step (the limit is {limit})."))
    return answers


async def _answer(call: Call, tools: dict[str, Tool], context: ToolContext) -> Answer:
    tool = tools.get(call.name)
    if tool is None:
        log.warning("model called an undeclared tool %r; answered with an error", call.name[:80])
        return _error(call, f"There is no tool named {call.name[:80]!r}.")
    try:
        arguments = _arguments(call, tool)
    except ToolError as err:
        return _error(call, str(err))
    timeout = settings.CHAT_TOOL_TIMEOUT
    try:
        output = await asyncio.wait_for(_run(tool, arguments, context), timeout)
    except TimeoutError:
        log.warning("tool %s timed out after %ss", tool.name, timeout)
        return _error(call, f"The tool {tool.name} did not answer within {timeout:g} seconds.")
    except ToolError as err:
        return _error(call, str(err))
    except Exception as err:
        log.exception("tool %s raised", tool.name)
        return _error(call, f"The tool {tool.name} failed ({type(err).__name__}).")
    return Answer(call.call_id, _bounded(output), ok=True)


def _arguments(call: Call, tool: Tool) -> Any:
    if len(call.arguments) > MAX_ARGUMENT_CHARS:
        raise ToolError(f"The arguments are too long (over {MAX_ARGUMENT_CHARS:,} characters).")
    try:
        data = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        raise ToolError("The arguments are not valid JSON.") from None
    try:
        return tool.arguments.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
            for e in err.errors(include_url=False)[:5]
        )
        raise ToolError(f"Invalid arguments: {problems}") from None


async def _run(tool: Tool, arguments: Any, context: ToolContext) -> str:
    if inspect.iscoroutinefunction(tool.func):
        return await tool.func(arguments, context)
    # A timed-out sync tool's thread runs on to its end; its result is dropped.
    run = sync_to_async(tool.func, thread_sensitive=tool.uses_database)
    return await run(arguments, context)


def _bounded(output: Any) -> str:
    text = output if isinstance(output, str) else orjson.dumps(output, default=str).decode()
    limit = settings.CHAT_TOOL_OUTPUT_CHARS
    if len(text) > limit:
        return text[:limit] + f"\n[… cut at {limit:,} characters]"
    return text


def _error(call: Call, message: str) -> Answer:
    return Answer(call.call_id, f"Error: {message}", ok=False)
