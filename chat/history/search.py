"""Search over titles and message text, ranked, with highlighted snippets.

PostgreSQL: `websearch_to_tsquery` against the GIN-indexed `to_tsvector` (chat/history/fts.py),
ts_rank for ranking, ts_headline for snippets. SQLite: FTS5 MATCH, bm25() and snippet().
Either way the candidate set is `permissions.findable(user)`: a person's own conversations and
those shared with them, never anyone else's private text. Snippets come back with control
characters around the matches; they are escaped first, then the markers become <mark>.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nh3
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, FloatField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from chat import permissions
from chat.history import fts
from chat.history.listing import Filters, Page, decode_cursor, encode_cursor
from chat.models import Conversation, Message

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
TITLE_HITS = 5
PAGE_SIZE = 20
START, STOP = "\x02", "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)
_COLUMNS = (
    "id",
    "conversation_id",
    "title",
    "role",
    "status",
    "model",
    "created_at",
    "snip",
    "score",
)


@dataclass(frozen=True)
class Hit:
    conversation_id: int
    title: str
    message_id: int | None  # None: the title matched
    role: str
    status: str
    model: str
    created_at: datetime | None
    snippet: SafeString
    score: float

    @property
    def anchor(self) -> str:
        return f"#m{self.message_id}" if self.message_id else ""


def search_messages(user: Any, text: str, filters: Filters, cursor: str = "") -> Page:
    """One page of matching messages, best first, keyset-paged on (score, id)."""
    terms = _terms(text)
    if not terms:
        return Page([], None)
    allowed = _allowed_messages(user, filters)
    after = _after(cursor)
    if connection.vendor == "postgresql":
        return _pg_messages(text, allowed, after)
    return _sqlite_messages(terms, allowed, after)


def search_titles(user: Any, text: str, filters: Filters) -> list[Hit]:
    """The few conversations whose title matches, shown above the message hits."""
    terms = _terms(text)
    if not terms:
        return []
    allowed = _findable(user, filters)
    start, end = filters.bounds()
    if start:
        allowed = allowed.filter(updated_at__gte=start)
    if end:
        allowed = allowed.filter(updated_at__lt=end)
    if connection.vendor == "postgresql":
        query = _pg_query(text)
        rows = (
            allowed.annotate(v=fts.title_vector())
            .filter(v=query)
            .annotate(score=SearchRank(fts.title_vector(), query), snip=_pg_headline("title", text))
            .order_by("-score", "-id")
            .values_list("id", "title", "snip", "score")[:TITLE_HITS]
        )
    else:
        rows = _sqlite_titles(terms, allowed)
    return [
        Hit(pk, title, None, "", "", "", None, _highlight(snip), float(score))
        for pk, title, snip, score in rows
    ]


# --- the candidate set ---
def _findable(user: Any, filters: Filters) -> QuerySet[Conversation]:
    if filters.shared:
        return Conversation.objects.filter(pk__in=permissions.shared_with(user).values("pk"))
    return permissions.findable(user)


def _allowed_messages(user: Any, filters: Filters) -> QuerySet[Message]:
    qs = permissions.findable_messages(user, shared_only=filters.shared)
    start, end = filters.bounds()
    if start:
        qs = qs.filter(created_at__gte=start)
    if end:
        qs = qs.filter(created_at__lt=end)
    if filters.model:
        qs = qs.filter(model=filters.model)
    if filters.status:
        qs = qs.filter(status=filters.status)
    return qs


# --- PostgreSQL ---
def _pg_query(text: str) -> SearchQuery:
    return SearchQuery(text[:MAX_QUERY_CHARS], search_type="websearch", config=fts.CONFIG)


def _pg_headline(field: str, text: str) -> SearchHeadline:
    return SearchHeadline(
        field,
        _pg_query(text),
        config=fts.CONFIG,
        start_sel=START,
        stop_sel=STOP,
        max_words=24,
        min_words=8,
        max_fragments=2,
        fragment_delimiter=" … ",
    )


def _pg_messages(text: str, allowed: QuerySet[Message], after: tuple[float, int] | None) -> Page:
    query = _pg_query(text)
    qs = (
        allowed.annotate(v=fts.stored_message_vector())
        .filter(v=query)
        # float8: ts_rank's float4 would not round-trip through the cursor's text exactly.
        .annotate(score=Cast(SearchRank(fts.stored_message_vector(), query), FloatField()))
    )
    if after is not None:
        score, pk = after
        qs = qs.filter(Q(score__lt=score) | Q(score=score, pk__lt=pk))
    rows = list(
        qs.annotate(snip=_pg_headline("text", text), title=F("conversation__title"))
        .order_by("-score", "-id")
        .values_list(*_COLUMNS)[: PAGE_SIZE + 1]
    )
    return _page(rows)


# --- SQLite ---
def _sqlite_messages(
    terms: list[str], allowed: QuerySet[Message], after: tuple[float, int] | None
) -> Page:
    """The permission and filter conditions compiled by Django, joined to the FTS5 match (the
    planner starts from the match); ranking and paging wrap it."""
    table = fts.MESSAGE_FTS
    matched = (
        allowed.extra(
            tables=[table],
            where=[f"{table}.rowid = chat_message.id", f"{table} MATCH %s"],
            params=[_fts5_query(terms)],
        )
        .annotate(
            snip=RawSQL(f"snippet({table}, 0, char(2), char(3), '…', 16)", []),
            score=RawSQL(f"-bm25({table})", []),  # bm25: lower is better; higher is here
            title=F("conversation__title"),
        )
        .values_list(*_COLUMNS)
    )
    try:
        inner, params = matched.query.sql_with_params()
    except EmptyResultSet:
        return Page([], None)
    # Named: the inner query's column order is Django's, not the one asked for.
    sql = f"SELECT {', '.join(_COLUMNS)} FROM ({inner}) AS hits"
    params = list(params)
    if after is not None:
        sql += " WHERE (score < %s OR (score = %s AND id < %s))"
        params += [after[0], after[0], after[1]]
    sql += " ORDER BY score DESC, id DESC LIMIT %s"
    params.append(PAGE_SIZE + 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [(*r[:6], _sqlite_datetime(r[6]), *r[7:]) for r in cursor.fetchall()]
    return _page(rows)


def _sqlite_titles(terms: list[str], allowed: QuerySet[Conversation]) -> list[tuple]:
    allowed_sql, allowed_params = allowed.values("pk").query.sql_with_params()
    sql = (
        f"SELECT c.id, c.title, highlight({fts.TITLE_FTS}, 0, char(2), char(3)), "
        f"-bm25({fts.TITLE_FTS}) AS score FROM {fts.TITLE_FTS} "
        f"JOIN chat_conversation c ON c.id = {fts.TITLE_FTS}.rowid "
        f"WHERE {fts.TITLE_FTS} MATCH %s AND c.id IN ({allowed_sql}) "
        "ORDER BY score DESC, c.id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [_fts5_query(terms), *allowed_params, TITLE_HITS])
        return cursor.fetchall()


def _fts5_query(terms: list[str]) -> str:
    """Every term must match; each is quoted (no FTS5 syntax from the person gets through),
    and the last one matches as a prefix, so half-typed words find something."""
    quoted = [f'"{t}"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def _sqlite_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime) or value is None:
        return value
    moment = parse_datetime(value)
    return timezone.make_aware(moment, timezone.UTC) if moment and not moment.tzinfo else moment


# --- shared ---
def _terms(text: str) -> list[str]:
    return _WORD.findall(text[:MAX_QUERY_CHARS])[:MAX_TERMS]


def _page(rows: list[tuple]) -> Page:
    hits = [
        Hit(
            conversation_id=r[1],
            title=r[2],
            message_id=r[0],
            role=r[3],
            status=r[4],
            model=r[5],
            created_at=r[6],
            snippet=_highlight(r[7]),
            score=float(r[8]),
        )
        for r in rows[:PAGE_SIZE]
    ]
    last = hits[-1] if len(rows) > PAGE_SIZE else None
    return Page(hits, encode_cursor(last.score, last.message_id) if last else None)


def _after(cursor: str) -> tuple[float, int] | None:
    parts = decode_cursor(cursor, 2)
    if parts is None:
        return None
    try:
        return float(parts[0]), int(parts[1])
    except ValueError:
        return None


def _highlight(snippet: str | None) -> SafeString:
    """Escaped text with the matches in <mark>; nh3 balances a marker the text itself held."""
    html = escape(snippet or "").replace(START, "<mark>").replace(STOP, "</mark>")
    return mark_safe(nh3.clean(html, tags={"mark"}, attributes={}))  # noqa: S308 (cleaned)
