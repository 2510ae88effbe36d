"""MCP approvals: the person who may write answers a tool's `mcp_approval_request`, and the
answer (an `mcp_approval_response` input item) starts the next round of the same message.

The claim is one short transaction: the answer must be the conversation's latest message,
ended, with that request still unanswered; it is marked answered and made live again
(queued, with the new runner's lease) so nobody answers it twice and the sweeper covers it.
"""

from typing import Any

from django.conf import settings
from django.db import transaction

from chat.models import Conversation, Message
from chat.placement import branch_rows
from chat.turns.plan import TurnPlan, TurnRejected
from chat.turns.prior import history_input
from chat.turns.reopen import (
    Claimed,
    check_budget,
    hosted_tools,
    locked_conversation,
    question_of,
    reopen,
)

APPROVED, DENIED = "approved", "denied"


def claim(
    *, user: Any, conversation_id: int, message_id: int, request_id: str, approve: bool,
    lease_owner: str,
) -> Claimed:  # fmt: skip
    with transaction.atomic():
        conversation = locked_conversation(
            user, conversation_id, "Only the owner of this conversation can answer a tool request."
        )
        message = _latest_answer(conversation, message_id)
        check_budget(user, conversation_id)
        request = _open_request(message, request_id)
        request["raw"]["approval_answer"] = APPROVED if approve else DENIED
        reopen(message, lease_owner, also=("items",))
        # The branch above the answer (chat/tree.py): what it was asked with.
        rows = branch_rows(conversation.pk, message.parent_id)
    plan = TurnPlan(
        user_id=user.pk, conversation_id=conversation_id, text=question_of(rows),
        model=message.model or settings.CHAT_MODEL, input=history_input(rows),
        hosted_tools=hosted_tools(conversation), settings=message.settings or None,
    )  # fmt: skip
    return Claimed(message, plan, approval_input(request, approve), lease_owner)


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
