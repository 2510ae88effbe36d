"""Saving a running turn: its checkpoints (which renew the lease) and its final answer with
the usage rows, once."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import sql
from chat.models import Conversation, Message
from chat.turns.round_usage import record_round_usage
from chat.turns.snapshot import TurnSnapshot
from chat.usage.ledger import Owner, owner_columns, owner_from


def checkpoint_turn(*, message_id: int, snapshot: TurnSnapshot, lease_owner: str) -> bool:
    """Save the partial answer and renew the lease; False if the turn is no longer ours."""
    live = snapshot.status in Message.LIVE_STATUSES
    values = {
        "status": snapshot.status if live else Message.Status.STREAMING,
        "lease_expires_at": timezone.now() + timedelta(seconds=settings.TURN_LEASE_SECONDS),
        **_message_fields(snapshot),
    }
    where = "id = %s AND status IN (%s, %s) AND lease_owner = %s"
    return (
        sql.update(Message, values, where, [message_id, *Message.LIVE_STATUSES, lease_owner]) == 1
    )


def finish_turn(
    *,
    message_id: int,
    snapshot: TurnSnapshot,
    input_chars: int = 0,
    lease_owner: str | None = None,
    requested_model: str = "",
) -> Message:
    """Store the final answer and its usage rows (chat/usage/ledger.py) together, once: only
    while the answer is still live (and, given `lease_owner`, still that runner's). An answer
    already ended (a second end, the sweeper, another runner) is returned as stored, with no
    second usage row."""
    with transaction.atomic():
        values = {
            **_message_fields(snapshot),
            "status": snapshot.status,
            "done_at": timezone.now(),
            "lease_owner": "",
            "lease_expires_at": None,
        }
        # UPDATEs lock the answer's row, then its conversation's, until the commit: what
        # select_for_update() with select_related() locked, in interrupt_turn's order. The columns
        # left alone were written at creation (save() wrote them back unchanged).
        where, params = "id = %s AND status IN (%s, %s)", [message_id, *Message.LIVE_STATUSES]
        if lease_owner is not None:
            where, params = f"{where} AND lease_owner = %s", [*params, lease_owner]
        if not sql.update(Message, values, where, params):
            return Message.objects.prefetch_related("usage_records").get(pk=message_id)
        message, owner = _stored_answer(message_id, values)
        sql.update(
            Conversation, {"updated_at": timezone.now()}, "id = %s", [message.conversation_id]
        )
        records = record_round_usage(
            message=message,
            snapshot=snapshot,
            input_chars=input_chars,
            requested_model=requested_model,
            owner=owner,
        )
        message.prefetched_usage = records  # the relay renders it without a query
        return message


def _stored_answer(message_id: int, values: dict[str, Any]) -> tuple[Message, Owner]:
    """The saved answer (the columns finish_turn did not write, read back, and the values it
    wrote: its items are not decoded again) and who its usage is charged to, in one read."""
    names = (
        "conversation_id", "parent_id", "role", "model", "settings", "created_at", "queued_at",
    )  # fmt: skip
    owner_sql, owner_joins = owner_columns("c")
    rows = sql.execute(
        f"SELECT {', '.join('m.' + name for name in names)}, {owner_sql} "
        f"FROM {Message._meta.db_table} m INNER JOIN {Conversation._meta.db_table} c "
        f"ON c.id = m.conversation_id {owner_joins} WHERE m.id = %s",
        [message_id],
    )[1]
    if not rows:
        raise Message.DoesNotExist("Message matching query does not exist.")
    row = rows[0]
    read = dict(zip(names, sql.reader(Message, names)(row[: len(names)]), strict=True))
    message = Message(id=message_id, **{**read, **values})  # values last: the snapshot's model
    message._state.adding = False
    message._state.db = sql.database().alias
    return message, owner_from(row[len(names) :])


def _message_fields(snapshot: TurnSnapshot) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "text": snapshot.text,
        "items": snapshot.items,
        "response_id": snapshot.response_id or "",
        "background": snapshot.background,
        "last_seq": snapshot.last_seq,
        "error_code": snapshot.error_code or "",
        "error_message": snapshot.error_message or "",
        "incomplete_reason": snapshot.incomplete_reason or "",
        "warnings": snapshot.warnings,
        "rounds": snapshot.rounds,
        "first_event_at": snapshot.first_event_at,
        "first_token_at": snapshot.first_token_at,
    }
    if snapshot.model:
        fields["model"] = snapshot.model
    return fields
