"""start_turn (chat/turns/start.py) in the message tree: a question under an earlier answer
hangs there and the branch on screen moves to it; a regenerate asks the same question again
(no new row) and the answer hangs under it; the answer keeps the settings and hosted tools it
was asked with; a new first question stays a root also where rows are written by save()."""

from dataclasses import replace

import pytest
from django.db import connection

from chat.models import Conversation, Message
from chat.turns.save import finish_turn
from chat.turns.snapshot import TurnSnapshot
from chat.turns.start import start_turn
from tests.test_critical_paths import plan_for

pytestmark = pytest.mark.django_db


def ended_turn(user, conversation_id=None, **plan_fields):
    plan = replace(plan_for(user, conversation_id, text="first"), **plan_fields)
    started = start_turn(plan=plan, lease_owner="me")
    done = TurnSnapshot(status="completed", text="ok", items=[])
    finish_turn(message_id=started.assistant_message_id, snapshot=done)
    return started


def leaf_of(conversation_id: int) -> int | None:
    return Conversation.objects.get(pk=conversation_id).current_leaf_id


def test_a_question_under_an_earlier_answer_hangs_there_and_is_shown(user):
    first = ended_turn(user)
    plan = replace(plan_for(user, first.conversation_id), parent_id=first.assistant_message_id)
    second = start_turn(plan=plan, lease_owner="me")
    question = Message.objects.get(pk=second.user_message_id)
    assert (question.role, question.text, question.parent_id) == (
        "user", "go", first.assistant_message_id,
    )  # fmt: skip
    assert Message.objects.get(pk=second.assistant_message_id).parent_id == question.pk
    assert leaf_of(first.conversation_id) == first.assistant_message_id


def test_a_regenerate_asks_the_same_question_again_under_it(user):
    first = ended_turn(user)
    plan = replace(plan_for(user, first.conversation_id), question_id=first.user_message_id)
    again = start_turn(plan=plan, lease_owner="me")
    assert again.user_message_id == first.user_message_id
    assert Message.objects.filter(role="user").count() == 1
    answer = Message.objects.get(pk=again.assistant_message_id)
    assert (answer.parent_id, answer.status) == (first.user_message_id, "queued")
    assert leaf_of(first.conversation_id) == first.user_message_id


def test_a_regenerate_under_a_parent_shows_the_question_not_its_parent(user):
    first = ended_turn(user)
    second = ended_turn(user, first.conversation_id, parent_id=first.assistant_message_id)
    plan = replace(
        plan_for(user, first.conversation_id),
        question_id=second.user_message_id,
        parent_id=first.assistant_message_id,
    )
    start_turn(plan=plan, lease_owner="me")
    assert leaf_of(first.conversation_id) == second.user_message_id


def test_the_answer_keeps_its_settings_and_hosted_tools(user):
    plan = replace(plan_for(user), settings={"temperature": 0.5}, hosted_tools=("web_search",))
    started = start_turn(plan=plan, lease_owner="me")
    answer = Message.objects.get(pk=started.assistant_message_id)
    assert answer.settings == {"temperature": 0.5, "hosted_tools": ["web_search"]}


def test_a_new_first_question_stays_a_root_where_rows_are_saved_one_by_one(user, monkeypatch):
    first = ended_turn(user)
    # SQLite before 3.35 has no INSERT ... RETURNING: chat/sql.py falls back to save().
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    plan = replace(plan_for(user, first.conversation_id), parent_id=None)  # an edited first one
    root = start_turn(plan=plan, lease_owner="me")
    assert Message.objects.get(pk=root.user_message_id).parent_id is None
