"""A turn whose runner died: taken over to resume it, or ended as interrupted."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.models import Message
from chat.turns.round_usage import record_round_usage
from chat.turns.snapshot import TurnSnapshot


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


def interrupt_turn(*, message_id: int) -> Message | None:
    """End a turn whose runner died; None if it was saved or renewed in the meantime."""
    with transaction.atomic():
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
        requested_model = message.model  # as asked, unless a checkpoint saved the reported name
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
                rounds=message.rounds or [],
            )
            record_round_usage(
                message=message,
                snapshot=snapshot,
                input_chars=sum(len(m.text) for m in history),
                requested_model=requested_model,
            )
        return message
