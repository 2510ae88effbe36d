"""Frames a socket sends (chat/turns/frames.py), per role: an ended answer's Retry only in the
writers' frame, a new question's Edit box (with the deployment's length limit) only for
writers, the composer reset with its limit, and rows taken off the page by id."""

import pytest

from chat.models import Conversation, Message
from chat.presenters import message_view
from chat.turns import frames

pytestmark = pytest.mark.django_db

RETRY = 'value="retry"'
EDIT = '<details class="edit-box">'


@pytest.fixture
def asked(user):
    conversation = Conversation.objects.create(owner=user)
    question = Message.objects.create(conversation=conversation, role="user", text="Why?")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status="failed", error_message="It broke."
    )
    return question, answer


def test_an_ended_answer_offers_retry_only_in_the_writers_frame(asked):
    _, answer = asked
    writers, readers = frames.ended_frames(answer)
    assert RETRY in writers and f'id="m{answer.pk}"' in writers
    assert RETRY not in readers and f'id="m{answer.pk}"' in readers


def test_a_new_question_has_its_edit_box_with_the_length_limit_only_for_writers(asked, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 777
    question, _ = asked
    writers = frames.appended_message_frame(message_view(question))
    assert f'id="m{question.pk}"' in writers and "Why?" in writers
    assert EDIT in writers and 'maxlength="777"' in writers
    readers = frames.appended_message_frame(message_view(question), read_only=True)
    assert f'id="m{question.pk}"' in readers and EDIT not in readers


def test_the_composer_comes_back_with_its_length_limit():
    assert 'maxlength="777"' in frames.composer_reset_frame(777)


def test_removed_rows_are_deleted_by_id_with_their_version_bars():
    assert frames.removed_rows_frame((4, 5)) == (
        '<div id="m4" hx-swap-oob="delete"></div><div id="m4-bar" hx-swap-oob="delete"></div>'
        '<div id="m5" hx-swap-oob="delete"></div><div id="m5-bar" hx-swap-oob="delete"></div>'
    )
