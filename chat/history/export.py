"""Export: one conversation as JSON (everything stored) or Markdown, and all of a person's
conversations as one zip streamed as it is written (never whole in memory).

The JSON format is documented and versioned in docs/export-format.md. Rows are serialised
field by field from the models' own metadata, so a field added to a model is exported
without a change here; rows of any model that points at a message or a conversation (the
usage ledger, rounds, files) come along under `related`.
"""

import json
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import models
from django.utils import timezone

from chat.models import Conversation, Message
from chat.presenters import asked_with
from chat.tree import Tree

FORMAT = "chat-conversation"
VERSION = 1
_SKIP_FIELDS = {"lease_owner", "lease_expires_at"}  # a runner's bookkeeping, not history
_ZIP_BATCH = 50


def row(instance: models.Model) -> dict[str, Any]:
    """Every stored column of a row, as JSON values (foreign keys as their ids)."""
    out: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in _SKIP_FIELDS:
            continue
        out[field.attname] = _value(field.value_from_object(instance))
    return out


def conversation_document(conversation: Conversation) -> dict[str, Any]:
    messages = list(Message.objects.filter(conversation=conversation).order_by("created_at", "id"))
    ids = [m.pk for m in messages]
    related = _related_rows(conversation, ids)
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "conversation": {
            **row(conversation),
            "owner_username": conversation.owner.get_username(),
            "shared_with_name": conversation.shared_with.name if conversation.shared_with else None,
        },
        "messages": [row(m) for m in messages],
        "related": related,
    }


def as_json(conversation: Conversation) -> bytes:
    return json.dumps(conversation_document(conversation), ensure_ascii=False, indent=2).encode()


def as_markdown(conversation: Conversation) -> str:
    """A readable transcript of the version on screen (chat/tree.py); the JSON export is the
    one that holds everything, every version included."""
    lines = [f"# {_one_line(conversation.title) or 'Untitled conversation'}", ""]
    lines.append(f"_Exported {timezone.now():%Y-%m-%d %H:%M} UTC · conversation {conversation.pk}_")
    every = list(Message.objects.filter(conversation=conversation).order_by("created_at", "id"))
    shown = Tree(every).shown(conversation.current_leaf_id)
    if len(shown) < len(every):
        others = len(every) - len(shown)
        lines.append(
            f"_The version shown; other versions ({others} messages) are in the JSON export._"
        )
    for message in shown:
        lines += ["", *_markdown_message(message)]  # type: ignore[arg-type]
    return "\n".join(lines).rstrip() + "\n"


def filename(conversation: Conversation, extension: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (conversation.title or "conversation").lower()).strip("-")
    return f"{conversation.pk}-{slug[:50] or 'conversation'}.{extension}"


def zip_stream(user: Any) -> Iterator[bytes]:
    """A zip of every conversation the person owns (JSON + Markdown each), yielded as written.

    zipfile writes to a sink that cannot seek, so it uses data descriptors and never goes
    back: each member's bytes leave as soon as they are compressed."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for conversation in _owned(user):
            base = filename(conversation, "")[:-1]
            _write_member(archive, f"conversations/{base}.json", as_json(conversation))
            yield sink.take()
            _write_member(archive, f"conversations/{base}.md", as_markdown(conversation).encode())
            yield sink.take()
    yield sink.take()  # the central directory


def _owned(user: Any) -> Iterator[Conversation]:
    """Batches by keyset on id: memory stays flat with tens of thousands of conversations."""
    last = 0
    while True:
        batch = list(
            Conversation.objects.filter(owner=user, pk__gt=last)
            .select_related("owner", "shared_with")
            .order_by("pk")[:_ZIP_BATCH]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].pk


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=timezone.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, mode="w") as member:
        for start in range(0, len(data), 64 * 1024):
            member.write(data[start : start + 64 * 1024])


class _Sink:
    """A write-only file for zipfile; take() hands over what was written since last time."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._offset = 0

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


def _related_rows(conversation: Conversation, message_ids: list[int]) -> dict[str, list[dict]]:
    """Rows of every other model that points at this conversation or its messages."""
    out: dict[str, list[dict]] = {}
    for model in apps.get_models():
        if model in (Conversation, Message):
            continue
        lookup = _lookup(model, conversation, message_ids)
        if lookup is None:
            continue
        rows = [row(r) for r in model._default_manager.filter(lookup).order_by("pk")]
        if rows:
            out[model._meta.label_lower] = rows
    return out


def _lookup(model: type[models.Model], conversation: Conversation, ids: list[int]) -> Any:
    condition = None
    for field in model._meta.concrete_fields:
        if not isinstance(field, models.ForeignKey):
            continue
        if field.related_model is Conversation:
            part = models.Q(**{field.attname: conversation.pk})
        elif field.related_model is Message:
            part = models.Q(**{f"{field.attname}__in": ids})
        else:
            continue
        condition = part if condition is None else condition | part
    return condition


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "name") and hasattr(value, "storage"):  # a stored file: its name
        return value.name or None
    return value


def _markdown_message(message: Message) -> list[str]:
    if message.role == Message.Role.USER:
        return ["## You", "", message.text]
    head = f"## Assistant ({message.model or 'model unknown'}, {message.status})"
    lines = [head, ""]
    asked = [text for text, _ in asked_with(message.settings) if text != "instructions"]
    if asked:  # what the answer was asked with (chat/conversation_settings/)
        lines += [f"*Asked with {', '.join(asked)}*", ""]
    for item in message.items or []:
        lines += _markdown_item(item)
    if not message.items and message.text:
        lines.append(message.text)
    if message.error_message:
        lines += ["", f"> Error{f' ({message.error_code})' if message.error_code else ''}: "
                  f"{_one_line(message.error_message)}"]  # fmt: skip
    if message.incomplete_reason:
        lines += ["", f"> Incomplete: {message.incomplete_reason}"]
    return lines


def _markdown_item(item: dict[str, Any]) -> list[str]:
    kind = item.get("type")
    if kind == "message":
        lines = ["".join(p.get("text", "") for p in item.get("parts", []))]
        sources = [
            note
            for p in item.get("parts", [])
            for note in p.get("annotations", [])
            if note.get("url")
        ]
        lines += [f"- [{_one_line(str(n.get('title') or n['url']))}]({n['url']})" for n in sources]
        return lines
    if kind == "reasoning":
        return [f"> Reasoning: {_one_line(s)}" for s in item.get("summary", [])]
    if kind in ("function_call", "custom_tool_call", "mcp_call"):
        arguments = item.get("arguments") or item.get("input") or ""
        return [f"Tool call `{item.get('name') or kind}`:", "", "```", arguments, "```"]
    return [f"_({kind})_"]


def _one_line(text: str) -> str:
    return " ".join((text or "").split())
