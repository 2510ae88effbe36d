"""start_turn and interrupt_turn write all or nothing, as finish_turn does
(tests/test_critical_paths.py): a failure at their last write leaves no question without its
answer and no interrupted answer without its usage row. Faults are real triggers."""

import contextlib
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Message, UsageRecord
from chat.turns.start import start_turn
from chat.turns.takeover import interrupt_turn
from tests.test_critical_paths import (
    _drop_sql,
    _run,
    _trigger_sql,
    plan_for,
    usage_ledger_refuses_inserts,
)

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def answers_refused():
    """Every INSERT of an answer row fails (the question's goes through)."""
    table = Message._meta.db_table
    _run(
        _trigger_sql(
            "matrix_no_answers", "BEFORE INSERT", table,
            "SELECT RAISE(ABORT, 'answers refused') WHERE NEW.role = 'assistant';",
            "IF NEW.role = 'assistant' THEN RAISE EXCEPTION 'answers refused'; END IF;",
        )
    )  # fmt: skip
    try:
        yield
    finally:
        _run(_drop_sql("matrix_no_answers", table))


def test_a_turn_that_cannot_write_its_answer_leaves_no_question_or_conversation(user):
    with answers_refused(), pytest.raises(Exception, match="answers refused"):
        start_turn(plan=plan_for(user), lease_owner="me")
    assert not Conversation.objects.exists() and not Message.objects.exists()
    started = start_turn(plan=plan_for(user), lease_owner="me")  # the same turn, whole
    roles = Message.objects.filter(conversation_id=started.conversation_id).values_list("role")
    assert sorted(r for (r,) in roles) == ["assistant", "user"]


def test_an_interrupt_that_cannot_bill_leaves_the_turn_live(user):
    answer_id = start_turn(plan=plan_for(user), lease_owner="dead").assistant_message_id
    Message.objects.filter(pk=answer_id).update(
        status="streaming", text="partial", first_event_at=timezone.now(),
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    with usage_ledger_refuses_inserts(), pytest.raises(Exception, match="usage ledger"):
        interrupt_turn(message_id=answer_id)
    stored = Message.objects.get(pk=answer_id)
    assert (stored.status, stored.lease_owner) == ("streaming", "dead")
    assert interrupt_turn(message_id=answer_id).status == "interrupted"  # the sweeper's retry
    assert UsageRecord.objects.filter(message_id=answer_id).count() == 1
