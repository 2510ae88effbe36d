"""The function tools a deployment offers the model, loaded from CHAT_TOOLS (dotted paths).

A tool is a Python function with a pydantic model of its arguments; the model's JSON schema
is what the model sees. A deployment adds its own by pointing CHAT_TOOLS at a `Tool` object.
"""

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from pydantic import BaseModel

NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class ToolError(Exception):
    """A failure the tool explains itself: its message is shown to the model as is."""


@dataclass(frozen=True)
class ToolContext:
    """Who asked: tools that read data read only what this person may see."""

    user_id: int
    conversation_id: int | None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    arguments: type[BaseModel]
    # func(arguments, context) -> text for the model; sync functions run in a worker thread.
    func: Callable[[Any, ToolContext], str | Awaitable[str]]
    # Sync tools that touch the database run on Django's thread for it (one at a time);
    # the others run in worker threads, concurrently.
    uses_database: bool = False

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64 or set(self.name) - NAME_CHARS:
            raise ValueError(f"tool name {self.name!r}: 1-64 letters, digits, _ or -")

    def declaration(self, *, strict: bool) -> dict[str, Any]:
        """The `tools` entry of a request."""
        schema = self.arguments.model_json_schema()
        if strict:
            schema = strict_schema(schema)
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": schema,
            "strict": strict,
        }


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """What strict mode accepts: every property required, no other properties, no defaults
    or titles (a field with a default is sent explicitly by the model instead)."""
    schema = copy.deepcopy(schema)
    _tighten(schema)
    for definition in schema.get("$defs", {}).values():
        _tighten(definition)
    return schema


def _tighten(node: Any) -> None:
    if isinstance(node, list):
        for child in node:
            _tighten(child)
        return
    if not isinstance(node, dict):
        return
    node.pop("title", None)
    node.pop("default", None)
    if node.get("type") == "object" and "properties" in node:
        node["additionalProperties"] = False
        node["required"] = list(node["properties"])
    for key, child in node.items():
        if key != "$defs":
            _tighten(child)


@cache
def _load(paths: tuple[str, ...]) -> dict[str, Tool]:
    tools: dict[str, Tool] = {}
    for path in paths:
        tool = import_string(path)
        if not isinstance(tool, Tool):
            raise TypeError(f"CHAT_TOOLS: {path} is not a chat.tools.registry.Tool")
        if tool.name in tools:
            raise ValueError(f"CHAT_TOOLS: two tools are named {tool.name!r}")
        tools[tool.name] = tool
    return tools


def enabled_tools() -> dict[str, Tool]:
    """The tools of this deployment, by name (CHAT_TOOLS, loaded once per list)."""
    return _load(tuple(settings.CHAT_TOOLS))


def declarations() -> list[dict[str, Any]]:
    """The `tools` of a request (built once per settings: schemas cost ~0.1 ms each)."""
    return _declarations(tuple(settings.CHAT_TOOLS), settings.CHAT_TOOLS_STRICT)


@cache
def _declarations(paths: tuple[str, ...], strict: bool) -> list[dict[str, Any]]:
    return [tool.declaration(strict=strict) for tool in _load(paths).values()]
