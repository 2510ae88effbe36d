"""Frames a socket sends (chat/turns/frames.py), per role: an ended answer's Retry only in the
writers' frame, a new question's Edit box (with the deployment's length limit) only for
writers, the composer reset with its limit, and rows taken off the page by id."""

import pytest

from chat.models import Conversation, Message
from chat.presenters import message_view
from chat.turns import frames
from chat.turns.snapshot import TurnSnapshot

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


def test_the_viewers_version_of_an_end_is_rendered_only_if_asked_for(asked):
    _, answer = asked
    writers, readers = frames.ended_frames(answer, viewers=False)
    assert readers is None and writers == frames.ended_frames(answer)[0]


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


def test_stop_is_offered_only_to_writers_while_live():
    assert 'id="stop-button"' in frames.turn_controls_frame(True)
    assert 'id="stop-button"' not in frames.turn_controls_frame(True, read_only=True)
    assert 'id="stop-button"' not in frames.turn_controls_frame(False)


def test_the_announcer_and_the_sidebar_dot_are_exact_and_escaped():
    assert frames.announce_frame("<b>Done</b>") == (
        '<div id="sr-announcer" class="visually-hidden" aria-live="polite" aria-atomic="false">'
        "&lt;b&gt;Done&lt;/b&gt;</div>"
    )
    assert frames.sidebar_dot_frame(7, False) == '<span id="conv-7-dot" class="dot-slot"></span>'
    assert frames.sidebar_dot_frame(7, True) == (
        '<span id="conv-7-dot" class="dot-slot"><span class="live-dot" title="An answer is being'
        ' written" aria-label="answer being written"></span></span>'
    )


def test_a_live_view_carries_the_turns_status_error_warnings_and_model():
    snapshot = TurnSnapshot(status="streaming", text="", items=[], warnings=["Skipped one."])
    view = frames.live_message_view(9, snapshot, "gpt-x")
    assert (view.id, view.role, view.status, view.status_label) == (
        9,
        "assistant",
        "streaming",
        "Writing…",
    )
    assert view.live is True and view.warnings == ["Skipped one."] and view.model == "gpt-x"
    assert (view.error_code, view.error_message) == ("", "")
    failed = TurnSnapshot(status="failed", text="", items=[], error_code="e", error_message="m")
    view = frames.live_message_view(9, failed, "gpt-x")
    assert view.live is False and (view.error_code, view.error_message) == ("e", "m")
    assert 'id="m9"' in frames.live_message_frame(9, snapshot, "gpt-x")


def test_a_queued_turn_is_live_and_a_status_without_a_label_reads_as_itself():
    queued = frames.live_message_view(9, TurnSnapshot(status="queued", text="", items=[]), "m")
    assert queued.live is True and queued.status_label == "Queued"
    odd = frames.live_message_view(9, TurnSnapshot(status="paused", text="", items=[]), "m")
    assert odd.live is False and odd.status_label == "paused"
