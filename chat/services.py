"""Writes for turns. Each function owns its transaction; async code calls each once per step."""

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from chat.models import Conversation, Message, UsageRecord
from chat.turns.snapshot import TurnSnapshot

CHARS_PER_TOKEN = 4  # rough, for the estimate we store when the upstream reports no usage


class TurnRejected(Exception):
    """The turn cannot start; the message says why in words a person understands."""


@dataclass(frozen=True)
class TurnPlan:
    """Everything a turn needs before any write: who, where, and the input to send."""

    user_id: int
    conversation_id: int | None
    text: str
    model: str
    input: list[dict[str, Any]]


@dataclass(frozen=True)
class StartedTurn:
    conversation_id: int
    user_message_id: int
    assistant_message_id: int


def plan_turn(*, user: Any, conversation_id: int | None, text: str, model: str) -> TurnPlan:
    """Validate and read the history (no writes: the upstream request starts right after)."""
    text = text.strip()
    if not text:
        raise TurnRejected("The message is empty.")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise TurnRejected(
            f"The message is {len(text):,} characters long; the limit is "
            f"{settings.CHAT_MAX_MESSAGE_CHARS:,}."
        )
    _check_rate(user.pk)
    history: list[dict[str, Any]] = []
    if conversation_id is not None:
        # Only the owner writes (chat/permissions.py), and only while the account is active:
        # is_active is read from the database, so a socket opened before a deactivation
        # cannot start answers.
        conversation = Conversation.objects.filter(
            pk=conversation_id, owner=user, owner__is_active=True
        ).first()
        if conversation is None:
            raise TurnRejected(f"Conversation {conversation_id} was not found.")
        messages = list(conversation.messages.all())
        if any(m.is_live for m in messages):
            raise TurnRejected("A reply is still being written in this conversation.")
        history = history_input(messages)
    history.append({"role": "user", "content": text})
    return TurnPlan(user.pk, conversation_id, text, model, history)


def _check_rate(user_id: int) -> None:
    """At most CHAT_TURNS_PER_MINUTE turns a person per minute; the counter lives in the cache
    (Redis when REDIS_URL is set), so the limit holds across every server process."""
    limit = settings.CHAT_TURNS_PER_MINUTE
    if not limit:
        return
    key = f"turn-rate:{user_id}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: count this one as the first
        cache.set(key, 1, timeout=120)
        count = 1
    if count > limit:
        raise TurnRejected(f"You have sent {limit} messages this minute; please wait a moment.")


def history_input(messages: list[Message]) -> list[dict[str, Any]]:
    """Prior turns as stateless input items (no previous_response_id: llama.cpp refuses it)."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if not message.text:
            continue
        if message.role == Message.Role.USER:
            items.append({"role": "user", "content": message.text})
        else:
            # llama.cpp needs "type": "message" on assistant turns (local-model.md).
            items.append({"type": "message", "role": "assistant", "content": message.text})
    return items


@transaction.atomic
def start_turn(*, plan: TurnPlan, lease_owner: str) -> StartedTurn:
    """The person's message and a queued answer, in one short transaction."""
    now = timezone.now()
    if plan.conversation_id is None:
        conversation = Conversation.objects.create(owner_id=plan.user_id, title=_title(plan.text))
    else:
        conversation = Conversation.objects.select_for_update().get(pk=plan.conversation_id)
        if conversation.messages.filter(status__in=Message.LIVE_STATUSES).exists():
            raise TurnRejected("A reply is still being written in this conversation.")
        if not conversation.title:
            conversation.title = _title(plan.text)
        conversation.save(update_fields=["updated_at", "title"])
    user_message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, text=plan.text
    )
    answer = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.QUEUED,
        model=plan.model,
        queued_at=now,
        lease_owner=lease_owner,
        lease_expires_at=now + timedelta(seconds=settings.TURN_LEASE_SECONDS),
    )
    return StartedTurn(conversation.pk, user_message.pk, answer.pk)


def checkpoint_turn(*, message_id: int, snapshot: TurnSnapshot, lease_owner: str) -> bool:
    """Save the partial answer and renew the lease; False if the turn is no longer ours."""
    now = timezone.now()
    updated = Message.objects.filter(
        pk=message_id, status__in=Message.LIVE_STATUSES, lease_owner=lease_owner
    ).update(
        status=snapshot.status
        if snapshot.status in Message.LIVE_STATUSES
        else Message.Status.STREAMING,
        lease_expires_at=now + timedelta(seconds=settings.TURN_LEASE_SECONDS),
        **_message_fields(snapshot),
    )
    return updated == 1


@transaction.atomic
def finish_turn(*, message_id: int, snapshot: TurnSnapshot, input_chars: int = 0) -> Message:
    """Store the final answer and its usage row together."""
    message = Message.objects.select_for_update().select_related("conversation").get(pk=message_id)
    for name, value in _message_fields(snapshot).items():
        setattr(message, name, value)
    message.status = snapshot.status
    message.done_at = timezone.now()
    message.lease_owner = ""
    message.lease_expires_at = None
    message.save()
    record = record_usage(message=message, snapshot=snapshot, input_chars=input_chars)
    message.conversation.save(update_fields=["updated_at"])
    message.prefetched_usage = [record] if record else []  # the relay renders it without a query
    return message


def claim_turn(*, message_id: int, lease_owner: str) -> Message | None:
    """Take over a live turn whose lease expired (to resume it); None if someone else did."""
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message_id, status__in=Message.LIVE_STATUSES, lease_expires_at__lt=now
    ).update(
        lease_owner=lease_owner,
        lease_expires_at=now + timedelta(seconds=settings.TURN_LEASE_SECONDS),
    )
    if not claimed:
        return None
    return Message.objects.select_related("conversation").get(pk=message_id)


@transaction.atomic
def interrupt_turn(*, message_id: int) -> Message | None:
    """End a turn whose runner died; None if it was saved or renewed in the meantime."""
    message = (
        Message.objects.select_for_update()
        .select_related("conversation")
        .filter(pk=message_id)
        .first()
    )
    now = timezone.now()
    if (
        message is None
        or not message.is_live
        or (message.lease_expires_at is not None and message.lease_expires_at >= now)
    ):
        return None
    message.status = Message.Status.INTERRUPTED
    message.error_code = message.error_code or "interrupted"
    message.error_message = (
        "The server process writing this answer stopped; this is the text saved before that."
    )
    message.done_at = now
    message.lease_owner = ""
    message.lease_expires_at = None
    message.save()
    if message.first_event_at is not None and not message.usage_records.exists():
        history = Message.objects.filter(conversation=message.conversation, id__lt=message.pk)
        snapshot = TurnSnapshot(
            status=message.status,
            text=message.text,
            items=message.items,
            model=message.model,
            response_id=message.response_id,
            events=1,
        )
        record_usage(
            message=message, snapshot=snapshot, input_chars=sum(len(m.text) for m in history)
        )
    return message


def record_usage(
    *, message: Message, snapshot: TurnSnapshot, input_chars: int
) -> UsageRecord | None:
    """One ledger row per upstream response: reported usage, else an estimate if it ran."""
    usage = snapshot.usage
    if usage is not None:
        return UsageRecord.objects.create(
            **_ledger_keys(message, snapshot),
            input_tokens=usage.input_tokens,
            cached_tokens=usage.cached_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            total_tokens=usage.total_tokens,
            raw=snapshot.raw_usage,
        )
    elif snapshot.events:
        # The model ran (and bills) but never said how much: a stopped or broken stream.
        output_chars = len(snapshot.text) + sum(
            len(i.get("arguments", "")) + len(i.get("input", "")) for i in snapshot.items
        )
        input_tokens = -(-input_chars // CHARS_PER_TOKEN)
        output_tokens = -(-output_chars // CHARS_PER_TOKEN)
        return UsageRecord.objects.create(
            **_ledger_keys(message, snapshot),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
            estimated=True,
        )
    return None


def _ledger_keys(message: Message, snapshot: TurnSnapshot) -> dict[str, Any]:
    return {
        "message": message,
        "conversation": message.conversation,
        "user_id": message.conversation.owner_id,
        "model": snapshot.model or message.model,
        "response_id": snapshot.response_id or "",
        "status": snapshot.status,
    }


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
        "first_event_at": snapshot.first_event_at,
        "first_token_at": snapshot.first_token_at,
    }
    if snapshot.model:
        fields["model"] = snapshot.model
    return fields


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "…"
