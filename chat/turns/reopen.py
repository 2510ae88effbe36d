"""One more round of an ended answer (an MCP approval answered, a Continue): the parts of the
claim both share. Each runs inside the caller's transaction, which holds the conversation's
row lock, so nobody claims the answer twice; the reopened answer is live again (queued, with
the new runner's lease), so the sweeper covers it."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from chat import permissions
from chat.models import Conversation, Message
from chat.tools import hosted
from chat.turns.plan import TurnPlan, TurnRejected
from chat.usage import budgets


@dataclass(frozen=True)
class Claimed:
    """A claimed answer and what its next round sends after its items."""

    message: Message
    plan: TurnPlan
    then_input: list[dict[str, Any]]
    lease_owner: str


def locked_conversation(user: Any, conversation_id: int, refused: str) -> Conversation:
    """The conversation, locked until the commit, if `user` may write in it; else `refused`."""
    conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    if conversation is None or not permissions.can_write(user, conversation):
        raise TurnRejected(refused)
    return conversation


def check_budget(user: Any, conversation_id: int) -> None:
    """The next round spends tokens like a new message would."""
    try:
        budgets.check(user_id=user.pk, conversation_id=conversation_id)
    except budgets.OverBudget as exc:
        raise TurnRejected(str(exc)) from exc


def reopen(message: Message, lease_owner: str, *, also: tuple[str, ...] = ()) -> None:
    """Make the answer live again under `lease_owner`; its rounds so far are marked billed
    (ledgered when it ended). `also`: further columns the caller changed on it."""
    message.rounds = [{**r, "billed": True} for r in _rounds_of(message)]
    message.status = Message.Status.QUEUED
    message.lease_owner = lease_owner
    message.lease_expires_at = timezone.now() + timedelta(seconds=settings.TURN_LEASE_SECONDS)
    message.done_at = None
    message.save(
        update_fields=[*also, "rounds", "status", "lease_owner", "lease_expires_at", "done_at"]
    )


def hosted_tools(conversation: Conversation) -> tuple[str, ...]:
    """The hosted tools the next round may use (chat/tools/hosted.py)."""
    return tuple(hosted.enabled(conversation.hosted_tools_off or [])) if hosted.offered() else ()


def question_of(rows: list[Any]) -> str:
    """The last question of the branch above the answer ((role, text, ...) rows)."""
    return next((text for role, text, *_ in reversed(rows) if role == "user"), "")


def _rounds_of(message: Message) -> list[dict[str, Any]]:
    rounds = list(message.rounds or [])
    if rounds:
        return rounds
    return [{"response_id": message.response_id, "status": message.status, "start": 0}]
