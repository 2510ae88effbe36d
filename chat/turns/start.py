"""The start of a turn: the person's message and a queued answer, written together."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import sql
from chat.models import Conversation, Message
from chat.turns.plan import StartedTurn, TurnPlan, TurnRejected


def start_turn(*, plan: TurnPlan, lease_owner: str) -> StartedTurn:
    """The person's message and a queued answer, in one short transaction."""
    with transaction.atomic():
        now = timezone.now()
        if plan.conversation_id is None:
            conversation = Conversation(owner_id=plan.user_id, title=_title(plan.text))
            sql.insert(conversation)
            conversation_id = conversation.pk
        else:
            conversation_id = plan.conversation_id
            _claim_conversation(conversation_id, plan.text, plan.question_id or plan.parent_id)
        answer = Message(
            conversation_id=conversation_id,
            role=Message.Role.ASSISTANT,
            status=Message.Status.QUEUED,
            model=plan.model,
            settings=_recorded(plan),
            queued_at=now,
            lease_owner=lease_owner,
            lease_expires_at=now + timedelta(seconds=settings.TURN_LEASE_SECONDS),
        )
        if plan.ids:  # taken ahead: the first frames may already have named them
            answer.pk = plan.ids[-1]
        if plan.question_id is not None:  # a regenerate: the question is asked again, not copied
            answer.parent_id = plan.question_id
            sql.insert(answer)
            return StartedTurn(conversation_id, plan.question_id, answer.pk)
        question = Message(
            conversation_id=conversation_id, role=Message.Role.USER, text=plan.text,
            parent_id=plan.parent_id, pk=plan.ids[0] if plan.ids else None,
        )  # fmt: skip
        question.is_root = plan.parent_id is None  # type: ignore[attr-defined]
        if plan.ids:  # the answer's parent is known: one INSERT for both
            answer.parent_id = question.pk
            sql.insert(question, answer)
        else:  # the answer needs its question's new id (chat/tree.py): two
            sql.insert(question)
            answer.parent_id = question.pk
            sql.insert(answer)
        return StartedTurn(conversation_id, question.pk, answer.pk)


def _recorded(plan: TurnPlan) -> dict[str, Any]:
    """What the answer is asked with, kept with it: the settings and the hosted tools."""
    return {**(plan.settings or {}), "hosted_tools": list(plan.hosted_tools)}


def _claim_conversation(conversation_id: int, text: str, above: int | None) -> None:
    """Touch the conversation (titled after this message if it has no title; its branch on
    screen moved to the new turn), then check that no answer is live in it. The branch: its
    current leaf becomes the message above the new question (`above`), and the new messages,
    the newest below it, are what is shown below it (chat/tree.py); None (a first question)
    shows the newest message, the new answer. The UPDATE goes first: it locks the row until the commit, as
    select_for_update() did (PostgreSQL; SQLite's IMMEDIATE transaction holds the write lock
    already), so of two processes starting a turn here at once the second waits there, then
    its SELECT sees the first one's queued answer."""
    updated_at = Conversation._meta.get_field("updated_at")
    updated, _ = sql.execute(
        f"UPDATE {Conversation._meta.db_table} SET updated_at = %s, current_leaf_id = %s, "
        "title = CASE WHEN title = '' THEN %s ELSE title END WHERE id = %s",
        [
            updated_at.get_db_prep_save(timezone.now(), sql.database()),
            above,
            _title(text),
            conversation_id,
        ],
    )
    if not updated:
        raise Conversation.DoesNotExist("Conversation matching query does not exist.")
    live = sql.execute(
        f"SELECT 1 FROM {Message._meta.db_table} WHERE conversation_id = %s "
        "AND status IN (%s, %s) LIMIT 1",
        [conversation_id, *Message.LIVE_STATUSES],
    )[1]
    if live:
        raise TurnRejected("A reply is still being written in this conversation.")


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "…"
