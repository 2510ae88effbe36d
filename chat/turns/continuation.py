"""Continue: an incomplete answer (cut at the length limit, the tool-round limit) goes on as
one more round of the same message, as an MCP approval does (chat/tools/approval.py).

The claim is one short transaction: the answer must be the conversation's latest message and
incomplete; it is made live again (queued, with the new runner's lease), its rounds so far
marked billed, so nobody continues it twice and the sweeper covers it.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import permissions
from chat.conversation_settings import effective
from chat.models import Conversation, Message, shown_leaf_id
from chat.placement import branch_rows
from chat.tools import hosted
from chat.turns.plan import TurnPlan, TurnRejected, fit_input
from chat.turns.prior import history_input
from chat.usage import budgets

# After the answer so far: what asks the model to go on rather than start again.
GO_ON = "Continue your previous answer exactly where it stopped, without repeating it."


@dataclass(frozen=True)
class Continuation:
    message: Message
    plan: TurnPlan
    then_input: list[dict[str, Any]]
    lease_owner: str


def claim(*, user: Any, conversation_id: int, message_id: int, lease_owner: str) -> Continuation:
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if conversation is None or not permissions.can_write(user, conversation):
            raise TurnRejected("Only the owner of this conversation can continue an answer.")
        message = _latest_incomplete(conversation, message_id)
        try:  # the next round spends tokens like a new message would
            budgets.check(user_id=user.pk, conversation_id=conversation_id)
        except budgets.OverBudget as exc:
            raise TurnRejected(str(exc)) from exc
        rows = _rows_before(conversation, message)
        plan = _plan(user, conversation, message, rows)
        message.rounds = [{**r, "billed": True} for r in _rounds_of(message)]
        message.status = Message.Status.QUEUED
        message.incomplete_reason = ""
        message.lease_owner = lease_owner
        message.lease_expires_at = timezone.now() + timedelta(seconds=settings.TURN_LEASE_SECONDS)
        message.done_at = None
        message.save(
            update_fields=[
                "rounds", "status", "incomplete_reason", "lease_owner", "lease_expires_at",
                "done_at",
            ]
        )  # fmt: skip
    return Continuation(message, plan, [{"role": "user", "content": GO_ON}], lease_owner)


def _plan(user: Any, conversation: Conversation, message: Message, rows: list[Any]) -> TurnPlan:
    """The history before the answer, fitted to the model with the answer so far and the
    request to go on counted in (they are sent after it)."""
    model = (message.settings or {}).get("model") or message.model or settings.CHAT_MODEL
    after = {"role": "user", "content": f"{message.text}\n{GO_ON}"}  # its size, never cut
    chosen = effective.of(message.settings) if message.settings else effective.defaults()
    fitted = fit_input([*history_input(rows), after], chosen=effective.with_model(chosen, model))
    tools = hosted.enabled(conversation.hosted_tools_off or []) if hosted.offered() else []
    question = next((text for role, text, *_ in reversed(rows) if role == "user"), "")
    return TurnPlan(
        user_id=user.pk, conversation_id=conversation.pk, text=question, model=model,
        input=fitted.input[:-1], hosted_tools=tuple(tools), left_out=fitted.left_out,
        settings=message.settings or None,
    )  # fmt: skip


def _latest_incomplete(conversation: Conversation, message_id: int) -> Message:
    # The end of the branch on screen (chat/tree.py), not of another version.
    latest = conversation.messages.filter(pk=shown_leaf_id(conversation.pk)).first()
    if latest is None or latest.pk != message_id or latest.role != Message.Role.ASSISTANT:
        raise TurnRejected("Only the latest answer can be continued.")
    if latest.is_live:
        raise TurnRejected("A reply is still being written in this conversation.")
    if latest.status != Message.Status.INCOMPLETE:
        raise TurnRejected("Only an incomplete answer can be continued.")
    return latest


def _rows_before(conversation: Conversation, message: Message) -> list[tuple[Any, ...]]:
    """(role, text, status, items) of the branch above the answer (chat/tree.py)."""
    return branch_rows(conversation.pk, message.parent_id)


def _rounds_of(message: Message) -> list[dict[str, Any]]:
    rounds = list(message.rounds or [])
    if rounds:
        return rounds
    return [{"response_id": message.response_id, "status": message.status, "start": 0}]
