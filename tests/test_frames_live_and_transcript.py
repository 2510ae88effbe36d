"""Frames a socket sends beyond the per-role ones (tests/test_frames_roles.py): a live view's
status label and its other fields, the whole live message (the model in its footer once the
turn has ended), the composer's error box (exact, escaped, emptied), and the whole transcript
a branch switch puts on screen, with or without the writers' controls."""

import pytest

from chat.models import Conversation, Message
from chat.presenters import message_view
from chat.turns import frames
from chat.turns.snapshot import TurnSnapshot

pytestmark = pytest.mark.django_db

TEXT_ITEM = {
    "type": "message",
    "status": "in_progress",
    "parts": [{"kind": "output_text", "text": "Hello <b>there</b>", "annotations": []}],
}


def snap(status: str, **fields) -> TurnSnapshot:
    return TurnSnapshot(status=status, text="", items=fields.pop("items", []), **fields)


def test_each_status_reads_as_its_label_and_only_queued_and_streaming_are_live():
    labels = {"queued": "Queued", "streaming": "Writing…", "completed": "Completed"}
    for status, label in labels.items():
        view = frames.live_message_view(3, snap(status), "m")
        assert view.status == status and view.status_label == label
    assert [frames.live_message_view(3, snap(s), "m").live for s in labels] == [True, True, False]
    for status in ("failed", "incomplete", "cancelled", "interrupted", "mystery"):
        assert frames.live_message_view(3, snap(status), "m").live is False
    assert frames.live_message_view(3, snap("mystery"), "m").status_label == "mystery"


def test_a_live_views_items_are_its_snapshots_items_addressed_by_message_and_position():
    view = frames.live_message_view(12, snap("streaming", items=[TEXT_ITEM, TEXT_ITEM]), "m")
    assert [item.id for item in view.items] == ["m12-i0", "m12-i1"]
    assert [item.kind for item in view.items] == ["message", "message"]
    (part,) = view.items[1].parts
    assert part.id == "m12-i1-text-0" and "&lt;b&gt;there&lt;/b&gt;" in part.html


def test_a_live_view_keeps_the_snapshots_own_model_over_the_default():
    view = frames.live_message_view(3, snap("streaming", model="gpt-own"), "gpt-default")
    assert view.model == "gpt-own"
    assert frames.live_message_view(3, snap("streaming"), "gpt-default").model == "gpt-default"


def test_a_live_views_warnings_are_its_own_list():
    warnings = ["One was cut."]
    view = frames.live_message_view(3, snap("streaming", warnings=warnings), "m")
    view.warnings.append("another")
    assert warnings == ["One was cut."]


def test_the_whole_live_message_swaps_by_id_and_names_the_model_once_ended():
    streaming = frames.live_message_frame(5, snap("streaming", items=[TEXT_ITEM]), "gpt-x")
    assert streaming.startswith('<article hx-swap-oob="true" id="m5"')
    assert "Writing…" in streaming and "Hello &lt;b&gt;there&lt;/b&gt;" in streaming
    assert "answer-text streaming" in streaming
    ended = frames.live_message_frame(5, snap("interrupted", items=[TEXT_ITEM]), "gpt-x")
    assert 'id="m5-footer"' in ended and "<span>gpt-x</span>" in ended


def test_the_composer_error_is_exact_escaped_and_can_be_emptied():
    assert frames.composer_error_frame("Too <long>") == (
        '<div id="composer-error" class="composer-error" role="alert">Too &lt;long&gt;</div>'
    )
    assert frames.composer_error_frame("") == (
        '<div id="composer-error" class="composer-error" role="alert"></div>'
    )


@pytest.fixture
def branch(user):
    conversation = Conversation.objects.create(owner=user)
    question = Message.objects.create(conversation=conversation, role="user", text="Why <x>?")
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="failed",
        error_message="It broke.",
        parent=question,
    )
    return [message_view(question), message_view(answer)]


def test_the_transcript_replaces_the_whole_section_with_every_row(branch, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 321
    question, answer = branch
    html = frames.transcript_frame(branch, read_only=False)
    assert html.startswith(
        '<section class="transcript" id="transcript" aria-label="Messages" hx-swap-oob="true">'
    )
    assert html.endswith("</section>") and html.count("<section") == 1
    assert html.index(f'id="m{question.id}"') < html.index(f'id="m{answer.id}"')
    assert f'id="m{question.id}-bar"' in html and f'id="m{answer.id}-bar"' in html
    assert "Why &lt;x&gt;?" in html and "It broke." in html
    assert 'class="edit-box"' in html and 'maxlength="321"' in html
    assert 'value="retry"' in html


def test_the_read_only_transcript_has_the_same_rows_without_controls(branch):
    question, answer = branch
    html = frames.transcript_frame(branch, read_only=True)
    assert f'id="m{question.id}"' in html and f'id="m{answer.id}"' in html
    assert "It broke." in html
    assert 'class="edit-box"' not in html and 'value="retry"' not in html


def test_a_live_views_text_is_plain_text_not_yet_markdown():
    item = {**TEXT_ITEM, "parts": [{"kind": "output_text", "text": "*soon*", "annotations": []}]}
    (part,) = frames.live_message_view(3, snap("streaming", items=[item]), "m").items[0].parts
    assert "*soon*" in part.html and "<em>" not in part.html
