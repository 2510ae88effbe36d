"""Continue: an incomplete answer (cut at the length limit, the tool-round limit) goes on as
one more round of the same message, as an MCP approval does (chat/tools/approval.py).

The claim is one short transaction: the answer must be the conversation's latest message and
incomplete; it is made live again (queued, with the new runner's lease), its rounds so far
marked billed, so nobody continues it twice and the sweeper covers it.
"""

from typing import Any

from django.conf import settings
from django.db import transaction

from chat.conversation_settings import effective
from chat.models import Conversation, Message, shown_leaf_id
from chat.placement import branch_rows
from chat.turns.plan import TurnPlan, TurnRejected, fit_input
from chat.turns.prior import history_input
from chat.turns.reopen import (
    Claimed,
    check_budget,
    hosted_tools,
    locked_conversation,
    question_of,
    reopen,
)

# After the answer so far: what asks the model to go on rather than start again.
GO_ON = "Continue your previous answer exactly where it stopped, without repeating it."


def claim(*, user: Any, conversation_id: int, message_id: int, lease_owner: str) -> Claimed:
    with transaction.atomic():
        conversation = locked_conversation(
            user, conversation_id, "Only the owner of this conversation can continue an answer."
        )
        message = _latest_incomplete(conversation, message_id)
        check_budget(user, conversation_id)
        rows = _rows_before(conversation, message)
        plan = _plan(user, conversation, message, rows)
        message.incomplete_reason = ""
        reopen(message, lease_owner, also=("incomplete_reason",))
    return Claimed(message, plan, [{"role": "user", "content": GO_ON}], lease_owner)


def _plan(user: Any, conversation: Conversation, message: Message, rows: list[Any]) -> TurnPlan:
    """The history before the answer, fitted to the model with the answer so far and the
    request to go on counted in (they are sent after it)."""
    model = (message.settings or {}).get("model") or message.model or settings.CHAT_MODEL
    after = {"role": "user", "content": f"{message.text}\n{GO_ON}"}  # its size, never cut
    chosen = effective.of(message.settings) if message.settings else effective.defaults()
    fitted = fit_input([*history_input(rows), after], chosen=effective.with_model(chosen, model))
    return TurnPlan(
        user_id=user.pk, conversation_id=conversation.pk, text=question_of(rows), model=model,
        input=fitted.input[:-1], hosted_tools=hosted_tools(conversation),
        left_out=fitted.left_out, settings=message.settings or None,
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
