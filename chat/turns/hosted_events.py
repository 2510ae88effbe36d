"""Hosted-tool stream events folded into items (responses-protocol.md §2, "Hosted tools").

Pure helpers the accumulator calls with its ItemList: progress events set the item's status, shell events
build `action.commands` and the command output, image events keep a bounded preview and
the decoded final image (kept beside the items, never inside them: it goes to storage).
Everything here comes from upstream, so every index, string and image is bounded first.
"""

import binascii
import logging
from typing import TYPE_CHECKING, Any

import orjson

from chat.turns.bounds import bounded

if TYPE_CHECKING:
    from chat.turns.item_list import ItemList
    from chat.upstream.events import StreamEvent

log = logging.getLogger(__name__)

# Status-only events: the item's new status (what the terminal `output` would say).
PROGRESS = {
    f"response.{tool}.{step}": step
    for tool, steps in {
        "web_search_call": ("in_progress", "searching", "completed"),
        "file_search_call": ("in_progress", "searching", "completed"),
        "code_interpreter_call": ("in_progress", "interpreting", "completed"),
        "image_generation_call": ("in_progress", "generating", "completed"),
        "mcp_call": ("in_progress", "completed", "failed"),
        "mcp_list_tools": ("in_progress", "completed", "failed"),
        "compaction": ("compacting",),
    }.items()
    for step in steps
}
# Declared by the SDK but not produced by /v1/responses (audio is a chat-completions feature):
# accepted and dropped, so a base64 audio blob never reaches memory we keep.
IGNORED = frozenset(
    {
        "response.audio.delta",
        "response.audio.done",
        "response.audio.transcript.delta",
        "response.audio.transcript.done",
    }
)
SHELL_EVENTS = frozenset(
    {
        "response.shell_call_command.added",
        "response.shell_call_command.delta",
        "response.shell_call_command.done",
        "response.shell_call_output_content.delta",
        "response.shell_call_output_content.done",
    }
)
PARTIAL_IMAGE = "response.image_generation_call.partial_image"
HANDLED = frozenset(PROGRESS) | IGNORED | SHELL_EVENTS | {PARTIAL_IMAGE}

MAX_COMMANDS = 32  # shell commands in one call
MAX_COMMAND_CHARS = 8_000
# stdout or stderr of one command: 32 commands' output stays within bounds.MAX_RAW_BYTES
MAX_SHELL_OUTPUT_CHARS = 16_000
MAX_IMAGE_BYTES = 16 * 1024 * 1024  # a decoded final image
MAX_PREVIEW_B64 = 3 * 1024 * 1024  # a partial preview, as base64 text
MAX_UNKNOWN_EVENTS = 20  # unknown events kept raw on one item
MAX_UNKNOWN_BYTES = 16_384  # one of them, as JSON
IMAGE_MIMES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
_DECODE_CHUNK = 64 * 1024  # base64 characters decoded at a time (a multiple of 4)


def apply_progress(state: "ItemList", event: "StreamEvent") -> bool:
    position = state.find_item(event)
    if position is None or state.items[position].status == PROGRESS[event.type]:
        return False  # a repeated status is no change (and no frame)
    state.items[position].status = PROGRESS[event.type]
    state.mark_changed(position)
    return True


def apply_shell(state: "ItemList", event: "StreamEvent") -> bool:
    """`shell_call_command.*` carry output_index + command_index and no item_id (§2)."""
    index = _extra_int(event, "command_index")
    if index is None or not 0 <= index < MAX_COMMANDS:
        return False
    position = state.imply_item(event, "shell_call")
    if position is None:  # past the limit on items (chat/turns/bounds.py)
        return False
    raw = state.items[position].raw
    if event.type.startswith("response.shell_call_command."):
        _shell_command(raw, index, event)
    else:
        _shell_output(raw, index, event)
    state.mark_changed(position)
    return not event.type.endswith(".delta")  # deltas wait for the next coalesced frame


def _shell_command(raw: dict[str, Any], index: int, event: "StreamEvent") -> None:
    action = raw.get("action") if isinstance(raw.get("action"), dict) else {}
    commands = [c for c in action.get("commands") or [] if isinstance(c, str)][:MAX_COMMANDS]
    while len(commands) <= index:
        commands.append("")
    if event.type.endswith(".delta"):
        text = commands[index] + (event.delta if isinstance(event.delta, str) else "")
    else:
        text = _extra_str(event, "command") or commands[index]
    commands[index] = text[:MAX_COMMAND_CHARS]
    raw["action"] = {**action, "commands": commands}


def _shell_output(raw: dict[str, Any], index: int, event: "StreamEvent") -> None:
    outputs = [o for o in raw.get("output") or [] if isinstance(o, dict)][:MAX_COMMANDS]
    while len(outputs) <= index:
        outputs.append({"stdout": "", "stderr": ""})
    if event.type.endswith(".delta"):
        delta = event.delta if isinstance(event.delta, dict) else {}
        for stream in ("stdout", "stderr"):
            if isinstance(delta.get(stream), str):
                text = str(outputs[index].get(stream) or "") + delta[stream]
                outputs[index][stream] = text[:MAX_SHELL_OUTPUT_CHARS]
    else:
        done = (event.model_extra or {}).get("output")
        if isinstance(done, list) and done and isinstance(done[0], dict):
            outputs[index] = {
                k: v[:MAX_SHELL_OUTPUT_CHARS] if isinstance(v, str) else bounded(v)
                for k, v in list(done[0].items())[:10]
            }
    raw["output"] = outputs


def apply_partial_image(state: "ItemList", event: "StreamEvent") -> bool:
    """A preview while the image is drawn: replaces the previous one (never appended)."""
    data = _extra_str(event, "partial_image_b64")
    if not data or len(data) > MAX_PREVIEW_B64:
        return False
    decoded = decode_image(data, MAX_PREVIEW_B64)
    if decoded is None:
        return False
    position = state.imply_item(event, "image_generation_call")
    if position is None:
        return False
    item = state.items[position]
    item.preview = f"data:{decoded[1]};base64,{''.join(data.split())}"
    item.status = "generating"
    state.mark_changed(position)
    return True


def take_image(item: Any, data: dict[str, Any]) -> tuple[bytes, str] | None:
    """The final image of an `image_generation_call` (its base64 `result`), checked."""
    if item.type != "image_generation_call" or not isinstance(data.get("result"), str):
        return None
    decoded = decode_image(data["result"], MAX_IMAGE_BYTES)
    if decoded is None:
        log.warning("dropped an image_generation_call result: too large or not an image")
        return None
    item.preview = ""  # the stored image replaces the preview
    return decoded


def decode_image(data: str, limit: int) -> tuple[bytes, str] | None:
    """Base64 decoded a chunk at a time: stops at the size cap or at a non-image first chunk."""
    text = "".join(data.split()) if any(c.isspace() for c in data[:1024]) else data
    if len(text) // 4 * 3 > limit + 3:
        return None
    chunks: list[bytes] = []
    mime = None
    for start in range(0, len(text), _DECODE_CHUNK):
        try:
            chunk = binascii.a2b_base64(text[start : start + _DECODE_CHUNK], strict_mode=True)
        except (binascii.Error, ValueError):
            return None
        if mime is None:
            mime = image_mime(chunk)
            if mime is None:
                return None
        chunks.append(chunk)
    return (b"".join(chunks), mime) if mime else None


def image_mime(head: bytes) -> str | None:
    for magic, mime in IMAGE_MIMES.items():
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def keep_unknown(item: Any, event: "StreamEvent") -> None:
    """An unknown event addressed to an item is kept raw on it (bounded), for `ask --json`."""
    kept = item.raw.setdefault("unknown_events", [])
    if isinstance(kept, list) and len(kept) < MAX_UNKNOWN_EVENTS:
        data = bounded(event.model_dump(exclude_none=True))
        if len(orjson.dumps(data, default=str)) > MAX_UNKNOWN_BYTES:
            data = {"type": event.type[:100], "dropped": "larger than 16 KB"}
        kept.append(data)


def _extra_int(event: "StreamEvent", name: str) -> int | None:
    value = (event.model_extra or {}).get(name)
    return value if type(value) is int else None


def _extra_str(event: "StreamEvent", name: str) -> str | None:
    value = (event.model_extra or {}).get(name)
    return value if isinstance(value, str) else None
