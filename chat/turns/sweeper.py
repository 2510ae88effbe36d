"""Finds turns whose runner died (lease expired) and ends them honestly as `interrupted`."""

import logging

from django.utils import timezone

from chat import services
from chat.models import Message

log = logging.getLogger(__name__)


def sweep_expired() -> list[Message]:
    """Mark every live turn with an expired lease as interrupted, keeping its saved text."""
    now = timezone.now()
    expired = Message.objects.filter(
        status__in=Message.LIVE_STATUSES, lease_expires_at__lt=now
    ).values_list("pk", flat=True)
    ended = []
    for message_id in list(expired):
        message = services.interrupt_turn(message_id=message_id)
        if message is not None:
            log.warning(
                "turn interrupted (lease expired) conversation=%s message=%s",
                message.conversation_id,
                message.pk,
            )
            # Fetched again with its usage rows: watchers are shown the stored end, footer included.
            ended.append(Message.objects.prefetch_related("usage_records").get(pk=message.pk))
    return ended
