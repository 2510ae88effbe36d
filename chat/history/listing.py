"""A person's conversations, newest first, paged by keyset (never OFFSET: page 500 costs what
page 1 costs), with the filters the History page offers."""

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from chat import permissions
from chat.models import Conversation, Message

PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    since: date | None = None
    until: date | None = None
    model: str = ""
    status: str = ""
    shared: bool = False  # only others' conversations shared with me
    archived: bool = False  # the list: archived ones instead of active ones

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The dates as a half-open range of aware datetimes (until is inclusive)."""
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.since, time.min, tz) if self.since else None
        end = datetime.combine(self.until + timedelta(days=1), time.min, tz) if self.until else None
        return start, end


@dataclass(frozen=True)
class Row:
    id: int
    title: str
    updated_at: datetime
    archived: bool
    owner: str  # shown for shared conversations
    shared: bool


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    next_cursor: str | None


def encode_cursor(*values: Any) -> str:
    raw = "|".join(v.isoformat() if isinstance(v, datetime) else repr(v) for v in values)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[str] | None:
    """The cursor's fields as text, or None for anything malformed (page one then)."""
    if not cursor or len(cursor) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = raw.split("|")
    return parts if len(parts) == count else None


def conversations(user: Any, filters: Filters) -> QuerySet[Conversation]:
    """The filtered set, before paging."""
    if filters.shared:
        qs = Conversation.objects.filter(pk__in=permissions.shared_with(user).values("pk"))
    else:
        qs = Conversation.objects.filter(owner=user)
        qs = qs.filter(archived_at__isnull=not filters.archived)
    start, end = filters.bounds()
    if start:
        qs = qs.filter(updated_at__gte=start)
    if end:
        qs = qs.filter(updated_at__lt=end)
    answers = Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.ASSISTANT)
    if filters.model:
        qs = qs.filter(Exists(answers.filter(model=filters.model)))
    if filters.status:
        qs = qs.filter(Exists(answers.filter(status=filters.status)))
    return qs


def page(user: Any, filters: Filters, cursor: str = "", size: int = PAGE_SIZE) -> Page:
    qs = conversations(user, filters).select_related("owner")
    after = _after(cursor)
    if after is not None:
        updated_at, pk = after
        # The plain `<=` bounds the index range; the OR only breaks ties on the boundary.
        qs = qs.filter(updated_at__lte=updated_at).filter(
            Q(updated_at__lt=updated_at) | Q(pk__lt=pk)
        )
    found = list(qs.order_by("-updated_at", "-id")[: size + 1])
    rows = [_row(c, user) for c in found[:size]]
    more = len(found) > size
    last = found[size - 1] if more else None
    return Page(rows, encode_cursor(last.updated_at, last.pk) if last else None)


def _after(cursor: str) -> tuple[datetime, int] | None:
    parts = decode_cursor(cursor, 2)
    if parts is None:
        return None
    try:
        moment = datetime.fromisoformat(parts[0])
        return (moment if moment.tzinfo else timezone.make_aware(moment)), int(parts[1])
    except ValueError:
        return None


def _row(conversation: Conversation, user: Any) -> Row:
    return Row(
        id=conversation.pk,
        title=conversation.title,
        updated_at=conversation.updated_at,
        archived=conversation.archived_at is not None,
        owner=conversation.owner.get_username(),
        shared=conversation.owner_id != user.pk,
    )
