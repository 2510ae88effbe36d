"""Prior turns as input (chat/turns/prior.py): the rows of a conversation read in one
statement, its owner's only, and (role, text, status, items) rows turned into input items; an
answer's items are decoded only when more than its text goes back (tool outputs, or reasoning
when requests are not stored upstream)."""

import json

import pytest

from chat import sql
from chat.models import Conversation, Message
from chat.turns.prior import history_input, history_rows

CALL = {"type": "function_call", "call_id": "c1", "name": "calculator", "arguments": "{}"}
OUTPUT = {"type": "function_call_output", "call_id": "c1", "output": "2"}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"}
MESSAGE = {"type": "message", "parts": [{"kind": "output_text", "text": "It is 2."}]}
ANSWER = {"type": "message", "role": "assistant", "content": "It is 2."}
SENT_CALL = {"type": "function_call", "call_id": "c1", "name": "calculator", "arguments": "{}"}
SENT_REASONING = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"}


@pytest.fixture(autouse=True)
def stored_upstream(settings):
    settings.CHAT_STORE = True


def test_questions_go_back_with_their_text_and_empty_ones_and_no_rows_not_at_all():
    rows = [("user", "q1", "completed", []), ("user", "", "completed", [])]
    assert history_input(rows) == [{"role": "user", "content": "q1"}]
    assert history_input([(None, None, None, None)]) == []  # an empty conversation's row


def test_an_answer_with_tool_outputs_goes_back_with_them_from_the_raw_column():
    raw = json.dumps([CALL, OUTPUT, MESSAGE])  # as the one-statement read returns it
    sent = history_input([("assistant", "It is 2.", "completed", raw)])
    assert sent == [SENT_CALL, OUTPUT, ANSWER]


def test_a_text_only_answer_is_its_text_and_its_items_are_not_read(settings):
    # Stored upstream, an answer without tool outputs needs only its text: broken JSON in
    # the column proves it was never decoded.
    sent = history_input([("assistant", "It is 2.", "completed", "[not json")])
    assert sent == [ANSWER]
    assert history_input([("assistant", None, "completed", "[]")]) == []


def test_reasoning_goes_back_only_when_requests_are_not_stored(settings):
    raw = json.dumps([REASONING, MESSAGE])
    assert history_input([("assistant", "It is 2.", "completed", raw)]) == [ANSWER]
    # Decoded for its tool output, an answer still leaves its reasoning out when stored.
    tooled = json.dumps([REASONING, CALL, OUTPUT, MESSAGE])
    sent = history_input([("assistant", "It is 2.", "completed", tooled)])
    assert sent == [SENT_CALL, OUTPUT, ANSWER]
    settings.CHAT_STORE = False
    assert history_input([("assistant", "It is 2.", "completed", raw)]) == [SENT_REASONING, ANSWER]
    decoded = [REASONING, MESSAGE]  # the ORM's rows come decoded already
    assert history_input([("assistant", "It is 2.", "completed", decoded)]) == [
        SENT_REASONING,
        ANSWER,
    ]


def test_items_that_are_not_a_list_count_as_none(settings):
    settings.CHAT_STORE = False
    assert history_input([("assistant", "Hi", "completed", '{"type": "message"}')]) == [
        {"type": "message", "role": "assistant", "content": "Hi"}
    ]
    assert history_input([("assistant", "Hi", "completed", None)]) == [
        {"type": "message", "role": "assistant", "content": "Hi"}
    ]


@pytest.mark.django_db
def test_the_rows_are_the_owners_oldest_first_with_the_conversations_columns(user, other_user):
    conversation = Conversation.objects.create(
        owner=user, settings={"model": "m"}, hosted_tools_off=["web_search"]
    )
    question = Message.objects.create(conversation=conversation, role="user", text="q")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", text="a", parent=question
    )
    # Written at the same instant: the id decides the order.
    Message.objects.filter(pk=answer.pk).update(created_at=question.created_at)
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=answer)
    rows = history_rows(conversation.pk, user.pk)
    assert [(r.id, r.parent_id, r.role, r.text, r.status) for r in rows] == [
        (question.pk, None, "user", "q", "completed"),
        (answer.pk, question.pk, "assistant", "a", "completed"),
    ]
    assert {r.leaf for r in rows} == {answer.pk}
    # Raw columns (JSON text on SQLite), decoded as the plan decodes them.
    assert sql.from_db(Conversation, "settings", rows[0].settings) == {"model": "m"}
    assert sql.from_db(Conversation, "hosted_tools_off", rows[0].hosted_off) == ["web_search"]
    assert history_rows(conversation.pk, other_user.pk) == []
    empty = Conversation.objects.create(owner=user)
    (row,) = history_rows(empty.pk, user.pk)
    assert (row.id, row.role, row.leaf) == (None, None, None)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert history_rows(conversation.pk, user.pk) == []
