"""Import a conversation from its JSON export (docs/export-format.md, version 1).

The file is untrusted: its size, the number of messages and every value are bounded before
anything is written, and a file that fails any check writes nothing. The import becomes a new
conversation of the person importing it (private, titled as in the file); message texts,
items, rounds, models, statuses, errors and timings are kept. Usage ledger rows are not
imported: the ledger records what this installation was billed, and nothing was.
"""

from datetime import datetime
from typing import Any, Literal

import orjson
from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chat.history import export
from chat.models import Conversation, Message

MAX_BYTES = 20 * 1024 * 1024
MAX_MESSAGES = 5_000
MAX_TEXT = 1_000_000
MAX_JSON_BYTES = 2 * 1024 * 1024  # items or rounds of one message, serialised


class Refused(Exception):
    """The file cannot be imported; the message says why, for the person."""


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")  # later versions only add keys


class MessageRow(_Row):
    # The message tree (chat/tree.py): ids as in the file, mapped to the new rows' ids; a file
    # without them (exported before branches) is one line, each message after the one before.
    id: int | None = None
    parent_id: int | None = None
    role: Literal["user", "assistant"]
    status: Literal[
        "queued", "streaming", "completed", "incomplete", "failed", "cancelled", "interrupted"
    ] = "completed"
    text: str = Field(default="", max_length=MAX_TEXT)
    items: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)
    rounds: list[dict[str, Any]] = Field(default_factory=list, max_length=1_000)
    model: str = Field(default="", max_length=200)
    response_id: str = Field(default="", max_length=200)
    error_code: str = Field(default="", max_length=100)
    error_message: str = Field(default="", max_length=10_000)
    incomplete_reason: str = Field(default="", max_length=100)
    warnings: list[str] = Field(default_factory=list, max_length=100)
    created_at: datetime | None = None
    queued_at: datetime | None = None
    first_event_at: datetime | None = None
    first_token_at: datetime | None = None
    done_at: datetime | None = None


class ConversationRow(_Row):
    title: str = Field(default="", max_length=200)


class Document(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format: Literal["chat-conversation"]
    version: Literal[1]
    conversation: ConversationRow
    messages: list[MessageRow] = Field(max_length=MAX_MESSAGES)


def parse(raw: bytes) -> Document:
    if len(raw) > MAX_BYTES:
        raise Refused(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refused("The file is not JSON.") from None
    if not isinstance(data, dict) or data.get("format") != export.FORMAT:
        raise Refused("The file is not a conversation exported from this app.")
    if data.get("version") != export.VERSION:
        raise Refused(f"Export version {data.get('version')!r} cannot be read (expected 1).")
    try:
        document = Document.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise Refused(
            f"The file does not fit the export format ({where}: {first['msg']})."
        ) from None
    for row in document.messages:
        if len(orjson.dumps(row.items)) + len(orjson.dumps(row.rounds)) > MAX_JSON_BYTES:
            raise Refused("A message in the file has too large items.")
    return document


def import_conversation(*, user: Any, raw: bytes) -> Conversation:
    """A new private conversation of `user` from an export; all or nothing."""
    document = parse(raw)
    with transaction.atomic():
        convo = Conversation.objects.create(
            owner=user, title=document.conversation.title, title_by_person=True
        )
        rows = [_message(convo, row) for row in document.messages]
        Message.objects.bulk_create(rows, batch_size=500)
        # created_at is set on insert (auto_now_add): put the exported times back.
        for message, row in zip(rows, document.messages, strict=True):
            if row.created_at is not None:
                message.created_at = row.created_at
        Message.objects.bulk_update(
            [m for m, r in zip(rows, document.messages, strict=True) if r.created_at],
            ["created_at"],
            batch_size=500,
        )
        _link(rows, document.messages)
        Message.objects.bulk_update(rows, ["parent"], batch_size=500)
    return convo


def _link(rows: list[Message], document_rows: list[MessageRow]) -> None:
    """Parents by the file's ids, each one an earlier message of the file (so no cycle can be
    written); a file without parent ids (exported before branches) is one line. A parent the
    file does not hold makes the message follow the one before it."""
    tree_file = any(r.parent_id is not None for r in document_rows)
    earlier: dict[int, int] = {}
    previous: int | None = None
    for message, row in zip(rows, document_rows, strict=True):
        if not tree_file:
            message.parent_id = previous
        elif row.parent_id is None:
            message.parent_id = None  # a first question (an edited first one is a sibling)
        else:
            message.parent_id = earlier.get(row.parent_id, previous)
        if row.id is not None:
            earlier[row.id] = message.pk
        previous = message.pk


def _message(convo: Conversation, row: MessageRow) -> Message:
    # An answer that was being written when exported is not running here.
    status = "interrupted" if row.status in Message.LIVE_STATUSES else row.status
    return Message(
        conversation=convo,
        role=row.role,
        status=status,
        text=row.text,
        items=row.items,
        rounds=row.rounds,
        model=row.model,
        response_id=row.response_id,
        error_code=row.error_code,
        error_message=row.error_message,
        incomplete_reason=row.incomplete_reason,
        warnings=row.warnings,
        queued_at=row.queued_at,
        first_event_at=row.first_event_at,
        first_token_at=row.first_token_at,
        done_at=row.done_at,
    )
