"""The rows a new turn puts on the page before its first frame (chat/turns/live.py's
pending_views), built in memory: the person's question as they typed it (escaped, folded when
long, in its Edit box) and the queued answer with its model; a new version's ‹ i/n › on the
question (an edit) or on the answer (a regenerate)."""

from chat.presenters import STATUS_LABELS
from chat.tree import Nav
from chat.turns.frames import appended_message_frame
from chat.turns.live import pending_views
from chat.turns.plan import StartedTurn, TurnPlan

STARTED = StartedTurn(conversation_id=1, user_message_id=20, assistant_message_id=21)


def plan(text: str = "Why <b>?", **fields) -> TurnPlan:
    return TurnPlan(user_id=1, conversation_id=1, text=text, model="gpt-x", input=[], **fields)


def test_the_question_is_the_persons_text_escaped_and_completed():
    question, _ = pending_views(STARTED, plan())
    assert (question.id, question.role, question.status) == (20, "user", "completed")
    assert question.status_label == "" and question.live is False and question.items == []
    assert question.user_html == "Why &lt;b&gt;?"
    assert question.source_text == "Why <b>?" and question.user_long is False
    assert question.nav is None and question.model == ""


def test_a_long_question_is_folded():
    question, _ = pending_views(STARTED, plan("word " * 2000))
    assert question.user_long is True


def test_the_answer_is_queued_live_and_names_the_model():
    _, answer = pending_views(STARTED, plan())
    assert (answer.id, answer.role, answer.status) == (21, "assistant", "queued")
    assert answer.status_label == STATUS_LABELS["queued"] == "Queued"
    assert answer.live is True and answer.items == [] and answer.model == "gpt-x"
    assert answer.nav is None and answer.user_html is None


def test_an_edited_question_is_the_last_version_and_its_back_button_goes_to_the_one_before():
    question, answer = pending_views(STARTED, plan(older_siblings=(7, 9)))
    assert question.nav == Nav(index=3, count=3, prev_id=9, next_id=None)
    assert answer.nav is None


def test_a_regenerated_answer_carries_the_version_bar_not_the_question():
    question, answer = pending_views(STARTED, plan(question_id=20, older_siblings=(8,)))
    assert answer.nav == Nav(index=2, count=2, prev_id=8, next_id=None)
    assert question.nav is None


def test_the_rows_render_as_the_page_renders_them(settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 500
    question, answer = pending_views(STARTED, plan(older_siblings=(7,)))
    asked = appended_message_frame(question)
    assert 'id="m20"' in asked and "Why &lt;b&gt;?" in asked and "<b>?" not in asked
    assert 'class="edit-box"' in asked and ">Why &lt;b&gt;?</textarea>" in asked
    assert 'id="m20-bar"' in asked and "2/2" in asked
    queued = appended_message_frame(answer)
    assert 'id="m21"' in queued and 'class="badge badge-queued">Queued<' in queued
    assert "answer-text" not in queued  # no items yet
