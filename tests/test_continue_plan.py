"""The plan of a continued answer (chat/turns/continuation.py): whose and where it is, the
question it answers, the model (the answer's settings, then the answer's model, then the
deployment's), the hosted tools, and the history fitted to the model's window with the answer
so far and the request to go on counted in, under the answer's own output limit."""

import pytest
from django.utils import timezone

from accounts.models import Membership, Team
from chat.models import Budget, Conversation, Message, UsageRecord
from chat.turns import continuation

pytestmark = pytest.mark.django_db

TINY = {"model": "tiny", "max_output_tokens": 16}


@pytest.fixture
def tiny_model(settings):
    settings.USE_LOCAL_MODEL = False  # else the catalog is the embedded model alone
    settings.CHAT_MODELS = ["tiny:1000"]
    settings.CHAT_HOSTED_TOOLS = ["web_search"]
    return settings


def incomplete(user, *, first: str = "First question", text: str = "Once upon", **fields):
    conversation = Conversation.objects.create(owner=user)
    Message.objects.create(conversation=conversation, role="user", text=first)
    Message.objects.create(
        conversation=conversation, role="assistant", status="completed", text="ok"
    )
    Message.objects.create(conversation=conversation, role="user", text="Tell a story")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status="incomplete", text=text,
        incomplete_reason="max_output_tokens", **fields,
    )  # fmt: skip
    return conversation, answer


def plan_of(user, conversation, answer):
    return continuation.claim(
        user=user, conversation_id=conversation.pk, message_id=answer.pk, lease_owner="r"
    ).plan


def test_the_plan_names_its_person_conversation_question_model_and_tools(user, tiny_model):
    conversation, answer = incomplete(user, settings=TINY)
    plan = plan_of(user, conversation, answer)
    assert (plan.user_id, plan.conversation_id) == (user.pk, conversation.pk)
    assert plan.text == "Tell a story" and plan.model == "tiny"
    assert plan.hosted_tools == ("web_search",)
    assert plan.settings == TINY
    assert plan.input[-1] == {"role": "user", "content": "Tell a story"}  # not the request to go on


def test_the_model_falls_back_to_the_answers_then_the_deployments(user, settings):
    conversation, answer = incomplete(user, model="gpt-answer")
    assert plan_of(user, conversation, answer).model == "gpt-answer"
    conversation, answer = incomplete(user)
    assert plan_of(user, conversation, answer).model == settings.CHAT_MODEL


def test_the_history_fits_the_window_under_the_answers_own_output_limit(user, tiny_model):
    """~730 estimated tokens: within 1 000 less the 16 the answer may write (less the
    request's overhead), not within 1 000 less the default answer room of a quarter."""
    conversation, answer = incomplete(user, first="a" * 1560, text="c" * 300, settings=TINY)
    plan = plan_of(user, conversation, answer)
    assert plan.left_out == 0 and plan.input[0]["content"] == "a" * 1560


def test_the_answer_so_far_counts_against_the_window_and_pushes_out_old_turns(user, tiny_model):
    conversation, answer = incomplete(user, first="a" * 1560, text="c" * 1200, settings=TINY)
    plan = plan_of(user, conversation, answer)
    assert plan.left_out == 2  # the first question and its answer
    assert plan.input == [{"role": "user", "content": "Tell a story"}]


def test_a_stranger_is_refused_in_our_words(user, django_user_model):
    conversation, answer = incomplete(user)
    stranger = django_user_model.objects.create_user(username="mallory")
    with pytest.raises(continuation.TurnRejected) as refused:
        plan_of(stranger, conversation, answer)
    assert str(refused.value) == "Only the owner of this conversation can continue an answer."


def test_the_claim_hands_over_the_answer_and_its_lease(user):
    conversation, answer = incomplete(user)
    claimed = continuation.claim(
        user=user, conversation_id=conversation.pk, message_id=answer.pk, lease_owner="r"
    )
    assert claimed.message.pk == answer.pk and claimed.lease_owner == "r"


def refusal(user, conversation, message_id) -> str:
    with pytest.raises(continuation.TurnRejected) as refused:
        continuation.claim(
            user=user, conversation_id=conversation.pk, message_id=message_id, lease_owner="r"
        )
    return str(refused.value)


def test_an_earlier_answer_a_live_one_or_a_finished_one_is_refused_in_our_words(user):
    conversation, answer = incomplete(user)
    earlier = conversation.messages.get(text="ok")
    assert refusal(user, conversation, earlier.pk) == "Only the latest answer can be continued."
    Message.objects.filter(pk=answer.pk).update(status="streaming")
    assert refusal(user, conversation, answer.pk) == (
        "A reply is still being written in this conversation."
    )
    Message.objects.filter(pk=answer.pk).update(status="completed")
    assert refusal(user, conversation, answer.pk) == "Only an incomplete answer can be continued."


def test_a_continue_is_held_to_the_budget_of_the_team_the_conversation_is_charged_to(user):
    """The conversation is shared with the person's second team, whose budget is used up:
    continuing is refused in its words, though the first team (a new conversation's) has room."""
    first, second = Team.objects.create(name="Ops"), Team.objects.create(name="Lab")
    for team in (first, second):
        Membership.objects.create(team=team, user=user)
    conversation, answer = incomplete(user)
    Conversation.objects.filter(pk=conversation.pk).update(shared_with=second)
    Budget.objects.create(scope="team", team=second, monthly_tokens=100)
    UsageRecord.objects.create(
        user=user, username=user.username, team=second, model="m", status="completed",
        input_tokens=100, total_tokens=100, created_at=timezone.now(),
    )  # fmt: skip
    assert "Monthly budget reached: 100 of 100 tokens of team Lab's budget" in refusal(
        user, conversation, answer.pk
    )
    assert Message.objects.get(pk=answer.pk).status == "incomplete"  # not claimed
