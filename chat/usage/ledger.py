"""Writing the ledger: one row per upstream response, priced when it is written.

`record_usage` is the one way a row is written; the turn services call it once per upstream
response (round) inside their own transaction. It sends plain statements (chat/sql.py): one
SELECT for the names the row keeps, one for the prices, one INSERT.
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Membership, Team
from chat import sql
from chat.models import Conversation
from chat.usage import estimate, prices
from chat.usage.models import UsageRecord


@dataclass(frozen=True)
class Owner:
    """Who and what a row is charged to, with the names it keeps."""

    user_id: int | None = None
    username: str = ""
    conversation_title: str = ""
    team_id: int | None = None
    team_name: str = ""


def record_usage(
    *,
    message: Any,
    snapshot: Any,
    input_chars: int = 0,
    requested_model: str = "",
    at: datetime | None = None,
    owner: "Owner | None" = None,
) -> UsageRecord | None:
    """The row for one upstream response (`message`: the answer, with its id and
    conversation_id; `snapshot`: a TurnSnapshot of that response). Reported usage when the
    upstream sent it; else an estimate, flagged, if the model ran; else no row (nothing ran,
    nothing is billed). `owner`: who it is charged to, when the caller read it already
    (owner_columns); else read here."""
    tokens = tokens_of(snapshot, input_chars)
    if tokens is None:
        return None
    requested = requested_model or message.model or ""
    reported = snapshot.model or requested
    at = at or timezone.now()
    owner = owner or owner_of(message.conversation_id)
    price = prices.price_for((reported, requested), at)
    record = UsageRecord(
        message_id=message.pk,
        conversation_id=message.conversation_id,
        user_id=owner.user_id,
        team_id=owner.team_id,
        username=owner.username[:150],
        team_name=owner.team_name[:100],
        conversation_title=owner.conversation_title[:200],
        requested_model=requested[:200],
        model=reported[:200],
        response_id=(snapshot.response_id or "")[:200],
        status=snapshot.status,
        price_id=price.id if price else None,
        cost=prices.cost_of(
            price,
            input_tokens=tokens["input_tokens"],
            cached_tokens=tokens.get("cached_tokens", 0),
            output_tokens=tokens["output_tokens"],
        ),
        created_at=at,
        **tokens,
    )
    sql.insert(record)
    return record


def tokens_of(snapshot: Any, input_chars: int) -> dict[str, Any] | None:
    usage = snapshot.usage
    if usage is not None:
        return {**asdict(usage), "raw": snapshot.raw_usage}  # TokenUsage's fields: the columns
    if not snapshot.events:
        return None
    # The model ran (and bills) but never said how much: a stopped or broken stream.
    input_tokens = estimate.tokens_for_chars(input_chars)
    output_tokens = estimate.tokens_for_chars(estimate.output_chars(snapshot.text, snapshot.items))
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "estimated": True,
    }


def owner_of(conversation_id: int | None) -> Owner:
    """The conversation's owner and title, and its team: the one it is shared with, else the
    owner's first team (the oldest membership); none if the owner has no team."""
    columns, joins = owner_columns("c")
    rows = sql.execute(
        f"SELECT {columns} FROM {Conversation._meta.db_table} c {joins} WHERE c.id = %s",
        [conversation_id],
    )[1]
    return owner_from(rows[0]) if rows else Owner()


def owner_columns(conversation: str) -> tuple[str, str]:
    """The SELECT columns and the JOINs that read a row's Owner (owner_from), given the SQL
    alias of its conversation's table: for callers that read the conversation anyway."""
    users = get_user_model()._meta.db_table
    team = charged_team(f"{conversation}.shared_with_id", f"{conversation}.owner_id")
    columns = f"{conversation}.owner_id, ou.username, {conversation}.title, ot.id, ot.name"
    joins = (
        f"LEFT JOIN {users} ou ON ou.id = {conversation}.owner_id "
        f"LEFT JOIN {Team._meta.db_table} ot ON ot.id = {team}"
    )
    return columns, joins


def owner_from(columns: tuple | list) -> Owner:
    """The Owner from the five values owner_columns selects."""
    user_id, username, title, team_id, team_name = columns
    return Owner(user_id, username or "", title or "", team_id, team_name or "")


def charged_team(shared_with: str, owner: str) -> str:
    """SQL for the team a conversation's rows are charged to, from the SQL of its
    `shared_with_id` and of its owner's id: the team it is shared with, else the owner's
    first team (the oldest membership). The budget check asks the same (chat/usage/budgets.py)."""
    return (
        f"COALESCE({shared_with}, (SELECT m.team_id FROM {Membership._meta.db_table} m "
        f"WHERE m.user_id = {owner} ORDER BY m.id LIMIT 1))"
    )
