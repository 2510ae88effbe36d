"""What a hosted tool's item shows: a human label while it runs, then its result.

Everything here is upstream data: strings reach templates autoescaped, links only when
they are http(s), previews only as checked image data URLs, and every list is capped.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse

from chat.rendering import web_url

LABELS = {  # (while it runs, when it is done)
    "web_search_call": ("Searching the web…", "Searched the web"),
    "file_search_call": ("Searching files…", "Searched files"),
    "code_interpreter_call": ("Running code…", "Ran code"),
    "image_generation_call": ("Drawing an image…", "Generated an image"),
    "mcp_call": ("Calling a tool…", "Called a tool"),
    "mcp_list_tools": ("Listing tools…", "Listed tools"),
    "mcp_approval_request": ("Waiting for approval…", "Approval requested"),
    "mcp_approval_response": ("Answering the approval…", "Approval answered"),
    "shell_call": ("Running a command…", "Ran a command"),
    "shell_call_output": ("Running a command…", "Command output"),
    "local_shell_call": ("Running a command…", "Ran a command"),
    "local_shell_call_output": ("Running a command…", "Command output"),
    "computer_call": ("Using the computer…", "Used the computer"),
    "compaction": ("Compacting the conversation…", "Compacted the conversation"),
}
RUNNING = {"in_progress", "searching", "interpreting", "generating", "compacting", "queued"}
FAILED = {"failed", "incomplete"}
MAX_LIST = 20  # sources, results, outputs shown per item
MAX_TEXT = 4_000  # characters of one result or output shown
_PREVIEW = re.compile(r"data:image/(png|jpeg|webp);base64,[A-Za-z0-9+/]+={0,2}")


@dataclass
class Link:
    title: str
    url: str = ""  # empty: a named source without a link (a file citation)


@dataclass
class Output:
    kind: str  # logs | image | stdout | stderr | text
    text: str = ""
    url: str = ""


@dataclass
class HostedView:
    running_label: str
    done_label: str
    running: bool
    failed: bool
    status: str  # the status as upstream said it, for people and tests
    server: str = ""
    tool: str = ""
    detail: str = ""
    sources: list[Link] = field(default_factory=list)
    results: list[Link] = field(default_factory=list)
    result_texts: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    arguments: str = ""
    error: str = ""
    image_url: str = ""
    preview: str = ""
    request_id: str = ""
    answer: str = ""  # an approval request's answer: approved | denied

    @property
    def label(self) -> str:
        return self.running_label if self.running else self.done_label


def hosted_view(item: dict[str, Any], live: bool) -> HostedView:
    raw = item.get("raw") or {}
    status = str(item.get("status") or "")
    running_label, done_label = LABELS.get(item["type"], ("Working…", item["type"]))
    view = HostedView(
        running_label=running_label,
        done_label=done_label,
        running=live and (status in RUNNING or not status),
        failed=status in FAILED or bool(raw.get("error")),
        status=status,
        server=_text(raw.get("server_label"), 100),
        tool=_text(item.get("name") or raw.get("name"), 200),
    )
    _BUILDERS.get(item["type"], _nothing)(view, item, raw)
    return view


def _web_search(view: HostedView, item: dict[str, Any], raw: dict[str, Any]) -> None:
    action = raw.get("action") if isinstance(raw.get("action"), dict) else {}
    view.detail = _text(action.get("query"), 300)
    if not view.detail and isinstance(action.get("queries"), list):
        view.detail = ", ".join(_text(q, 100) for q in action["queries"][:3])
    if action.get("type") == "open_page":
        view.detail = _text(action.get("url"), 300)
    for source in _list(action.get("sources")):
        url = _http(source.get("url"))
        if url:
            view.sources.append(Link(_text(source.get("title") or url, 200), url))


def _file_search(view: HostedView, item: dict[str, Any], raw: dict[str, Any]) -> None:
    queries = [q for q in raw.get("queries") or [] if isinstance(q, str)]
    view.detail = ", ".join(_text(q, 100) for q in queries[:3])
    for result in _list(raw.get("results")):
        name = _text(result.get("filename") or result.get("file_id") or "a file", 200)
        score = result.get("score")
        if isinstance(score, int | float):
            name += f" (score {score:.2f})"
        view.results.append(Link(name))
        view.result_texts.append(_text(result.get("text"), 600))


def _code(view: HostedView, item: dict[str, Any], raw: dict[str, Any]) -> None:
    for output in _list(raw.get("outputs")):
        if output.get("type") == "logs":
            view.outputs.append(Output("logs", _text(output.get("logs"), MAX_TEXT)))
        elif output.get("type") == "image" and _http(output.get("url")):
            view.outputs.append(Output("image", url=_http(output.get("url"))))


def _image(view: HostedView, item: dict[str, Any], raw: dict[str, Any]) -> None:
    image = raw.get("image") if isinstance(raw.get("image"), dict) else {}
    if isinstance(image.get("id"), int):
        view.image_url = reverse("generated_image", args=[image["id"]])
    elif _PREVIEW.fullmatch(str(item.get("preview") or "")):
        view.preview = item["preview"]
    view.detail = _text(raw.get("revised_prompt"), 500)


def _mcp(view: HostedView, item: dict[str, Any], raw: dict[str, Any]) -> None:
    view.arguments = _text(item.get("arguments") or raw.get("arguments"), MAX_TEXT)
    if raw.get("output") is not None:
        view.outputs.append(Output("text", _text(raw.get("output"), MAX_TEXT)))
    view.error = _error_text(raw.get("error"))
    view.request_id = _text(raw.get("approval_request_id") or raw.get("id"), 200)
    if raw.get("approval_answer") in ("approved", "denied"):
        view.answer = raw["approval_answer"]


def _mcp_tools(view: HostedView, item: dict[str, Any], raw: dict[str, Any]) -> None:
    names = [_text(t.get("name"), 100) for t in _list(raw.get("tools"), 100)]
    view.detail = ", ".join(n for n in names if n)
    view.error = _error_text(raw.get("error"))


def _shell(view: HostedView, item: dict[str, Any], raw: dict[str, Any]) -> None:
    action = raw.get("action") if isinstance(raw.get("action"), dict) else {}
    commands = action.get("commands") or ([action["command"]] if "command" in action else [])
    view.commands = [_command(c) for c in commands[:MAX_LIST]]
    for output in _list(raw.get("output")):
        for stream in ("stdout", "stderr"):
            if output.get(stream):
                view.outputs.append(Output(stream, _text(output[stream], MAX_TEXT)))
        outcome = output.get("outcome")
        if isinstance(outcome, dict) and outcome.get("type") == "timeout":
            view.outputs.append(Output("stderr", "The command timed out."))
        elif isinstance(outcome, dict) and outcome.get("exit_code") not in (None, 0):
            view.outputs.append(Output("stderr", f"Exit code {_text(outcome['exit_code'], 20)}"))


def _nothing(view: HostedView, item: dict[str, Any], raw: dict[str, Any]) -> None:
    pass


_BUILDERS = {
    "web_search_call": _web_search,
    "file_search_call": _file_search,
    "code_interpreter_call": _code,
    "image_generation_call": _image,
    "mcp_call": _mcp,
    "mcp_approval_request": _mcp,
    "mcp_list_tools": _mcp_tools,
    "shell_call": _shell,
    "shell_call_output": _shell,
    "local_shell_call": _shell,
    "local_shell_call_output": _shell,
}


def citation_sources(parts: list[dict[str, Any]]) -> list[Link]:
    """A message's annotations: URL citations as links, file citations as named sources."""
    seen: dict[str, Link] = {}
    for part in parts:
        for note in part.get("annotations", []):
            url = _http(note.get("url"))
            if url:
                key, link = url, Link(_text(note.get("title") or url, 200), url)
            elif note.get("type") in ("file_citation", "container_file_citation", "file_path"):
                name = _text(note.get("filename") or note.get("file_id"), 200)
                key, link = f"file:{name}", Link(name)
            else:
                continue
            if link.title and key not in seen and len(seen) < MAX_LIST * 2:
                seen[key] = link
    return list(seen.values())


def _command(value: Any) -> str:
    if isinstance(value, list):
        return _text(" ".join(str(v) for v in value), MAX_TEXT)
    return _text(value, MAX_TEXT)


def _error_text(error: Any) -> str:
    if not error:
        return ""
    if isinstance(error, dict):
        error = error.get("message") or error.get("type") or "The tool failed."
    return _text(error, 1000)


def _list(value: Any, limit: int = MAX_LIST) -> list[dict[str, Any]]:
    return [v for v in value[:limit] if isinstance(v, dict)] if isinstance(value, list) else []


def _http(value: Any) -> str:
    return web_url(value) or ""  # absolute http(s) only: never a javascript: or data: href


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = (
            json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
        )
    return value[:limit]
