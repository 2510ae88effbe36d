"""interrupt_turn (chat/turns/takeover.py) called directly: which turns it ends (a lease that
still runs, to the microsecond, is left alone), every field it writes, and the usage row of
what the dead runner had streamed (its history counted from this conversation only, the
stored response id, one row per stored round)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Message, UsageRecord
from chat.turns import takeover
from chat.turns.start import start_turn
from chat.turns.takeover import interrupt_turn
from chat.usage.estimate import tokens_for_chars
from tests.test_critical_paths import plan_for

pytestmark = pytest.mark.django_db


STOPPED = "The server process writing this answer stopped; this is the text saved before that."


def dead_turn(user, *, text="go", **columns) -> Message:
    """A streaming answer whose runner stopped renewing its lease a second ago."""
    answer_id = start_turn(plan=plan_for(user, text=text), lease_owner="dead").assistant_message_id
    columns = {
        "status": "streaming",
        "lease_expires_at": timezone.now() - timedelta(seconds=1),
        "first_event_at": timezone.now(),
        **columns,
    }
    Message.objects.filter(pk=answer_id).update(**columns)
    return Message.objects.get(pk=answer_id)


def test_an_interrupted_turn_says_so_in_every_field(user):
    answer = dead_turn(user, text="Hi there", first_event_at=None)
    before = timezone.now()
    ended = interrupt_turn(message_id=answer.pk)
    stored = Message.objects.get(pk=answer.pk)
    for message in (ended, stored):
        assert (message.status, message.error_code) == ("interrupted", "interrupted")
        assert message.error_message == STOPPED
        assert (message.lease_owner, message.lease_expires_at) == ("", None)
        assert message.done_at is not None and message.done_at >= before
    assert not UsageRecord.objects.exists()  # nothing streamed: nothing billed


def test_an_error_code_saved_before_the_crash_is_kept(user):
    answer = dead_turn(user, error_code="rate_limited")
    assert interrupt_turn(message_id=answer.pk).error_code == "rate_limited"
    assert Message.objects.get(pk=answer.pk).error_code == "rate_limited"


def test_a_turn_whose_lease_still_runs_is_left_alone_even_at_the_last_microsecond(
    user, monkeypatch
):
    running = dead_turn(user, lease_expires_at=timezone.now() + timedelta(seconds=30))
    assert interrupt_turn(message_id=running.pk) is None
    now = timezone.now()
    due = dead_turn(user, lease_expires_at=now)
    monkeypatch.setattr(takeover.timezone, "now", lambda: now)
    assert interrupt_turn(message_id=due.pk) is None
    stored = Message.objects.filter(pk__in=(running.pk, due.pk)).values_list("status", flat=True)
    assert list(stored) == ["streaming", "streaming"]


def test_an_ended_or_missing_turn_is_not_interrupted(user):
    answer = dead_turn(user, status="completed")
    assert interrupt_turn(message_id=answer.pk) is None
    assert interrupt_turn(message_id=answer.pk + 1000) is None
    assert Message.objects.get(pk=answer.pk).status == "completed"


def test_the_interrupted_answer_comes_with_its_conversation(user, django_assert_num_queries):
    answer = dead_turn(user, first_event_at=None)
    ended = interrupt_turn(message_id=answer.pk)
    with django_assert_num_queries(0):  # the relay reads it
        assert ended.conversation.owner_id == user.pk


def test_the_estimate_counts_the_history_of_this_conversation_before_the_answer(user):
    Message.objects.create(
        conversation=Conversation.objects.create(owner=user), role="user", text="x" * 400
    )  # another conversation, older
    answer = dead_turn(user, text="q" * 40, response_id="resp_dead")
    Message.objects.filter(pk=answer.pk).update(text="a" * 8)
    Message.objects.create(conversation_id=answer.conversation_id, role="user", text="y" * 400)
    interrupt_turn(message_id=answer.pk)
    (row,) = UsageRecord.objects.filter(message_id=answer.pk)
    assert row.estimated and row.input_tokens == tokens_for_chars(40)
    assert row.output_tokens == tokens_for_chars(8)
    assert (row.response_id, row.status, row.model) == ("resp_dead", "interrupted", "m")


def test_each_stored_round_gets_its_row(user):
    rounds = [
        {"start": 0, "status": "completed", "response_id": "resp_1", "events": 3,
         "usage": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}},
        {"start": 0},
    ]  # fmt: skip
    answer = dead_turn(user, response_id="resp_2", rounds=rounds)
    interrupt_turn(message_id=answer.pk)
    rows = UsageRecord.objects.filter(message_id=answer.pk).order_by("id")
    assert [(r.response_id, r.estimated) for r in rows] == [("resp_1", False), ("resp_2", True)]
    assert rows[0].total_tokens == 7
