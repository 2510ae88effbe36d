"""Finds turns whose runner died (lease expired) and ends them honestly as `interrupted`."""

import logging

from django.utils import timezone

from chat.models import Message
from chat.turns.takeover import claim_turn, interrupt_turn

log = logging.getLogger(__name__)


def sweep_expired(*, claim_as: str | None = None) -> tuple[list[Message], list[Message]]:
    """End every live turn whose lease expired: background-mode turns are claimed (for the
    caller to resume, when `claim_as` names the new lease owner), the others are marked
    interrupted with their saved text. Returns (ended, claimed)."""
    now = timezone.now()
    expired = Message.objects.filter(
        status__in=Message.LIVE_STATUSES, lease_expires_at__lt=now
    ).values_list("pk", "background", "response_id")
    ended, claimed = [], []
    for message_id, background, response_id in list(expired):
        if claim_as and background and response_id:
            taken = claim_turn(message_id=message_id, lease_owner=claim_as)
            if taken is not None:
                log.warning(
                    "resuming background turn conversation=%s message=%s",
                    taken.conversation_id,
                    taken.pk,
                )
                claimed.append(taken)
            continue
        message = interrupt_turn(message_id=message_id)
        if message is not None:
            log.warning(
                "turn interrupted (lease expired) conversation=%s message=%s",
                message.conversation_id,
                message.pk,
            )
            # Fetched again with its usage rows: watchers are shown the stored end, footer included.
            ended.append(Message.objects.prefetch_related("usage_records").get(pk=message.pk))
    return ended, claimed
