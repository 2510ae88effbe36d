"""MCP approvals: the person who may write answers a tool's `mcp_approval_request`, and the
answer (an `mcp_approval_response` input item) starts the next round of the same message.

The claim is one short transaction: the answer must be the conversation's latest message,
ended, with that request still unanswered; it is marked answered and made live again
(queued, with the new runner's lease) so nobody answers it twice and the sweeper covers it.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import permissions
from chat.models import Conversation, Message
from chat.placement import branch_rows
from chat.tools import hosted
from chat.turns.plan import TurnPlan, TurnRejected
from chat.turns.prior import history_input
from chat.usage import budgets

APPROVED, DENIED = "approved", "denied"


@dataclass(frozen=True)
class Approval:
    """A claimed answer and what its next round sends after its items."""

    message: Message
    plan: TurnPlan
    then_input: list[dict[str, Any]]
    lease_owner: str


def claim(
    *, user: Any, conversation_id: int, message_id: int, request_id: str, approve: bool,
    lease_owner: str,
) -> Approval:  # fmt: skip
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if conversation is None or not permissions.can_write(user, conversation):
            raise TurnRejected("Only the owner of this conversation can answer a tool request.")
        message = _latest_answer(conversation, message_id)
        try:  # the next round spends tokens like a new message would
            budgets.check(user_id=user.pk, conversation_id=conversation_id)
        except budgets.OverBudget as exc:
            raise TurnRejected(str(exc)) from exc
        request = _open_request(message, request_id)
        request["raw"]["approval_answer"] = APPROVED if approve else DENIED
        message.rounds = [{**r, "billed": True} for r in _rounds_of(message)]
        message.status = Message.Status.QUEUED
        message.lease_owner = lease_owner
        message.lease_expires_at = timezone.now() + timedelta(seconds=settings.TURN_LEASE_SECONDS)
        message.done_at = None
        message.save(
            update_fields=[
                "items", "rounds", "status", "lease_owner", "lease_expires_at", "done_at",
            ]
        )  # fmt: skip
        # The branch above the answer (chat/tree.py): what it was asked with.
        rows = branch_rows(conversation.pk, message.parent_id)
    tools = hosted.enabled(conversation.hosted_tools_off or []) if hosted.offered() else []
    question = next((text for role, text, *_ in reversed(rows) if role == "user"), "")
    plan = TurnPlan(
        user_id=user.pk, conversation_id=conversation_id, text=question,
        model=message.model or settings.CHAT_MODEL, input=history_input(rows),
        hosted_tools=tuple(tools), settings=message.settings or None,
    )  # fmt: skip
    return Approval(message, plan, approval_input(request, approve), lease_owner)


def approval_input(request: dict[str, Any], approve: bool) -> list[dict[str, Any]]:
    """The request as the model made it, then the person's answer (stateless: no
    previous_response_id needed)."""
    raw = request["raw"]
    made = {
        "type": "mcp_approval_request",
        "id": raw["id"],
        "server_label": raw.get("server_label") or "",
        "name": raw.get("name") or request.get("name") or "",
        "arguments": raw.get("arguments") or request.get("arguments") or "{}",
    }
    answer = {"type": "mcp_approval_response", "approval_request_id": raw["id"], "approve": approve}
    return [made, answer]


def _latest_answer(conversation: Conversation, message_id: int) -> Message:
    latest = conversation.messages.order_by("-created_at", "-id").first()
    if latest is None or latest.pk != message_id or latest.role != Message.Role.ASSISTANT:
        raise TurnRejected("Only the latest answer's tool requests can be answered.")
    if latest.is_live:
        raise TurnRejected("A reply is still being written in this conversation.")
    return latest


def _open_request(message: Message, request_id: str) -> dict[str, Any]:
    for item in message.items or []:
        raw = item.get("raw") or {}
        if item.get("type") == "mcp_approval_request" and raw.get("id") == request_id:
            if raw.get("approval_answer"):
                raise TurnRejected("That tool request was already answered.")
            return item
    raise TurnRejected("That tool request was not found.")


def _rounds_of(message: Message) -> list[dict[str, Any]]:
    rounds = list(getattr(message, "rounds", None) or [])
    if rounds:
        return rounds
    return [{"response_id": message.response_id, "status": message.status, "start": 0}]
