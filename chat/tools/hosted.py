"""Hosted tools as request options (responses-protocol.md §7): the model server runs them.

A deployment offers tools in settings (CHAT_HOSTED_TOOLS); a conversation may switch
offered ones off (Conversation.hosted_tools), never switch on one the deployment does not
offer. Unknown names fail loudly at start-up, so a typo does not silently disable a tool.
"""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

KINDS = ("web_search", "file_search", "code_interpreter", "image_generation", "mcp")
LABELS = {
    "web_search": "Web search",
    "file_search": "File search",
    "code_interpreter": "Code interpreter",
    "image_generation": "Image generation",
    "mcp": "Remote MCP tools",
}
APPROVAL_POLICIES = ("always", "never")


def offered() -> list[str]:
    """The hosted tools this deployment offers, checked, in a stable order."""
    names = list(dict.fromkeys(settings.CHAT_HOSTED_TOOLS))
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise ImproperlyConfigured(
            f"CHAT_HOSTED_TOOLS: unknown tool(s) {', '.join(unknown)}; known: {', '.join(KINDS)}"
        )
    if "file_search" in names and not settings.CHAT_FILE_SEARCH_VECTOR_STORES:
        raise ImproperlyConfigured("file_search needs CHAT_FILE_SEARCH_VECTOR_STORES (ids)")
    if "mcp" in names and not settings.CHAT_MCP_SERVER_URL.startswith(("https://", "http://")):
        raise ImproperlyConfigured("mcp needs CHAT_MCP_SERVER_URL (an http(s) URL)")
    if settings.CHAT_MCP_REQUIRE_APPROVAL not in APPROVAL_POLICIES:
        raise ImproperlyConfigured("CHAT_MCP_REQUIRE_APPROVAL must be always or never")
    return [n for n in KINDS if n in names]


def enabled(disabled: Iterable[str] = ()) -> list[str]:
    """What a conversation uses: the offered tools minus those it switched off."""
    off = set(disabled)
    return [name for name in offered() if name not in off]


def request_tools(names: Iterable[str]) -> list[dict[str, Any]]:
    """The `tools` entries of a request body for the given hosted tools."""
    return [_BUILDERS[name]() for name in names if name in _BUILDERS]


def _web_search() -> dict[str, Any]:
    return {"type": "web_search"}


def _file_search() -> dict[str, Any]:
    return {
        "type": "file_search",
        "vector_store_ids": list(settings.CHAT_FILE_SEARCH_VECTOR_STORES),
    }


def _code_interpreter() -> dict[str, Any]:
    return {"type": "code_interpreter", "container": {"type": "auto"}}


def _image_generation() -> dict[str, Any]:
    # Partial previews stream while the image is drawn (shown live, never stored).
    return {"type": "image_generation", "partial_images": 2}


def _mcp() -> dict[str, Any]:
    tool: dict[str, Any] = {
        "type": "mcp",
        "server_label": settings.CHAT_MCP_SERVER_LABEL,
        "server_url": settings.CHAT_MCP_SERVER_URL,
        "require_approval": settings.CHAT_MCP_REQUIRE_APPROVAL,
    }
    if settings.CHAT_MCP_ALLOWED_TOOLS:
        tool["allowed_tools"] = list(settings.CHAT_MCP_ALLOWED_TOOLS)
    return tool


_BUILDERS = {
    "web_search": _web_search,
    "file_search": _file_search,
    "code_interpreter": _code_interpreter,
    "image_generation": _image_generation,
    "mcp": _mcp,
}


def include_for(names: Iterable[str]) -> list[str]:
    """`include` values that bring the tools' results into the stream (§3)."""
    wanted = set(names)
    include = []
    if "web_search" in wanted:
        include.append("web_search_call.action.sources")
    if "file_search" in wanted:
        include.append("file_search_call.results")
    if "code_interpreter" in wanted:
        include.append("code_interpreter_call.outputs")
    return include


def add_to_body(body: dict[str, Any], names: Iterable[str]) -> None:
    """Add the hosted tools (and the `include` that brings their results) to a request body."""
    names = list(names)
    tools = request_tools(names)
    if not tools:
        return
    body["tools"] = [*body.get("tools", []), *tools]
    include = include_for(names)
    if include:
        body["include"] = [*body.get("include", []), *include]


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """A Django system check: bad hosted-tool settings stop `manage.py` and the server."""
    from django.core import checks

    try:
        offered()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="chat.E001")]
    return []
