"""The plan of a turn before any write (chat/turns/plan.py): the text checked, the place in the
tree (a plain send, a regenerate, an edit), the conversation's settings and hosted tools
switched off, the budget warning, the input fitted to the chosen model's window; and the
plan of a turn taken over after its runner died (resume_plan)."""

import pytest
from django.db.models import JSONField, Value

from accounts.models import Membership, Team
from chat import context
from chat.conversation_settings import effective
from chat.models import Budget, Conversation, Message, UsageRecord
from chat.tools.registry import declarations
from chat.turns import plan as plan_module
from chat.turns.plan import TurnRejected, fit_input, plan_turn, resume_plan

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def deployment(settings):
    settings.USE_LOCAL_MODEL = False
    settings.CHAT_MODEL = "wide"
    settings.CHAT_MODELS = ["wide:100000:tools", "narrow:1000:tools", "bare:1000"]
    settings.CHAT_INSTRUCTIONS = ""
    settings.CHAT_MAX_OUTPUT_TOKENS = 0
    settings.CHAT_TOOLS = ["chat.tools.calculator.TOOL"]
    settings.CHAT_HOSTED_TOOLS = ["web_search", "code_interpreter"]
    settings.CHAT_TURNS_PER_MINUTE = 0
    return settings


def send(user, conversation_id=None, text="Hello", model="wide", **where):
    return plan_turn(user=user, conversation_id=conversation_id, text=text, model=model, **where)


def chat(user, *texts, **fields):
    """A conversation of alternating questions and completed answers, each below the last."""
    conversation = Conversation.objects.create(owner=user, **fields)
    parent = None
    for n, text in enumerate(texts):
        role = "user" if n % 2 == 0 else "assistant"
        parent = Message.objects.create(
            conversation=conversation, role=role, text=text, parent=parent
        )
    return conversation


def test_the_text_is_stripped_of_nul_and_space_and_held_to_the_limit(user, settings):
    settings.CHAT_MAX_MESSAGE_CHARS = 1000
    assert send(user, text="  a\x00b \n").text == "ab"
    with pytest.raises(TurnRejected, match="^The message is empty.$"):
        send(user, text=" \x00\n ")
    assert len(send(user, text="x" * 1000).text) == 1000  # exactly the limit
    with pytest.raises(TurnRejected) as refused:
        send(user, text="x" * 1001)
    assert str(refused.value) == "The message is 1,001 characters long; the limit is 1,000."


def test_a_new_conversation_plans_with_the_defaults_and_every_offered_hosted_tool(user):
    plan = send(user)
    assert (plan.user_id, plan.conversation_id, plan.text, plan.model) == (
        user.pk, None, "Hello", "wide",
    )  # fmt: skip
    assert plan.input == [{"role": "user", "content": "Hello"}]
    assert plan.hosted_tools == ("web_search", "code_interpreter")
    assert plan.settings == effective.defaults().to_dict()
    assert (plan.parent_id, plan.question_id, plan.replaces, plan.older_siblings) == (
        None, None, (), (),
    )  # fmt: skip
    assert (plan.budget_warning, plan.left_out) == ("", 0)


def test_nothing_to_regenerate_or_edit_in_a_new_conversation(user):
    for where in ({"regenerate": 1}, {"edit_of": 1}):
        with pytest.raises(TurnRejected) as refused:
            send(user, **where)
        assert str(refused.value) == "There is nothing to regenerate or edit in a new conversation."


def test_a_plain_send_goes_below_the_version_on_screen_not_the_newest(user):
    conversation = chat(user, "q1", "a1")
    q1, a1 = Message.objects.get(text="q1"), Message.objects.get(text="a1")
    newer = Message.objects.create(conversation=conversation, role="assistant", text="a1b",
                                   parent=q1)  # fmt: skip
    assert send(user, conversation.pk).parent_id == newer.pk  # no leaf chosen: the newest
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=a1)
    plan = send(user, conversation.pk)
    assert plan.parent_id == a1.pk
    assert plan.input[1] == {"type": "message", "role": "assistant", "content": "a1"}


def test_an_unknown_or_foreign_or_deactivated_conversation_is_not_found(user, other_user):
    conversation = chat(user, "q", "a")
    with pytest.raises(TurnRejected) as refused:
        send(other_user, conversation.pk)
    assert str(refused.value) == f"Conversation {conversation.pk} was not found."
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(TurnRejected, match="was not found"):
        send(user, conversation.pk)


def test_a_plain_send_follows_the_branch_shown_with_the_conversations_settings(user):
    conversation = chat(
        user, "q1", "a1",
        settings={"model": "narrow", "instructions": "Be brief."},
        hosted_tools_off=["web_search", 7, None],  # only names count
    )  # fmt: skip
    answer = Message.objects.get(text="a1")
    plan = send(user, conversation.pk, model="wide")  # the deployment's model: not a choice
    assert plan.model == "narrow" and plan.settings["instructions"] == "Be brief."
    assert plan.hosted_tools == ("code_interpreter",)
    assert plan.parent_id == answer.pk and plan.question_id is None
    assert plan.input == [
        {"role": "user", "content": "q1"},
        {"type": "message", "role": "assistant", "content": "a1"},
        {"role": "user", "content": "Hello"},
    ]
    assert send(user, conversation.pk, model="bare").model == "bare"  # an explicit model wins


def test_a_regenerate_asks_the_question_again_above_the_old_answer(user):
    conversation = chat(user, "q1", "a1", "q2", "a2")
    q2, a2 = Message.objects.get(text="q2"), Message.objects.get(text="a2")
    plan = send(user, conversation.pk, text="", regenerate=a2.pk)  # no text of its own
    assert plan.text == "q2" and plan.question_id == q2.pk and plan.parent_id == q2.pk
    assert plan.replaces == (a2.pk,) and plan.older_siblings == (a2.pk,)
    assert plan.input[-1] == {"role": "user", "content": "q2"}
    assert len(plan.input) == 3  # q1, a1, then q2 once
    with pytest.raises(TurnRejected, match="cannot be retried"):
        send(user, conversation.pk, text="", regenerate=q2.pk)


def test_an_edit_replaces_the_question_and_keeps_its_text_checked(user):
    conversation = chat(user, "q1", "a1", "q2", "a2")
    a1, q2 = Message.objects.get(text="a1"), Message.objects.get(text="q2")
    plan = send(user, conversation.pk, text=" q2, better ", edit_of=q2.pk)
    assert plan.text == "q2, better" and plan.parent_id == a1.pk and plan.question_id is None
    assert plan.input[-1] == {"role": "user", "content": "q2, better"}
    with pytest.raises(TurnRejected, match="empty"):
        send(user, conversation.pk, text=" ", edit_of=q2.pk)


def test_a_live_answer_blocks_a_new_turn(user):
    conversation = chat(user, "q1")
    Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    with pytest.raises(TurnRejected, match="^A reply is still being written"):
        send(user, conversation.pk)


def test_the_budget_warning_is_planned_and_a_used_up_budget_refused(user):
    Budget.objects.create(scope="user", user=user, monthly_tokens=100)
    spent = UsageRecord.objects.create(
        user=user, username=user.username, model="wide", status="completed",
        input_tokens=85, total_tokens=85,
    )  # fmt: skip
    assert send(user).budget_warning.startswith("You have used 85 % of a monthly budget")
    UsageRecord.objects.filter(pk=spent.pk).update(input_tokens=100, total_tokens=100)
    with pytest.raises(TurnRejected, match="^Monthly budget reached"):
        send(user)


def test_the_budget_checked_is_the_team_the_conversation_is_charged_to(user):
    first, shared = Team.objects.create(name="First"), Team.objects.create(name="Shared")
    Membership.objects.create(team=first, user=user)
    Membership.objects.create(team=shared, user=user)
    Budget.objects.create(scope="team", team=shared, monthly_tokens=10)
    UsageRecord.objects.create(
        user=user, username=user.username, team=shared, model="wide", status="completed",
        input_tokens=10, total_tokens=10,
    )  # fmt: skip
    assert send(user).budget_warning == ""  # a new conversation: charged to the first team
    conversation = chat(user, "q", shared_with=shared)
    with pytest.raises(TurnRejected, match="^Monthly budget reached: .* team Shared's budget"):
        send(user, conversation.pk)


def test_old_turns_are_left_out_to_fit_the_conversations_model(user):
    long = "w" * 1200  # ~400 tokens each: two do not fit narrow's 1000 with room for an answer
    conversation = chat(user, long, long, long, long, settings={"model": "narrow"})
    plan = send(user, conversation.pk)
    assert plan.left_out == 4 and plan.input == [{"role": "user", "content": "Hello"}]
    plan = send(user, conversation.pk, model="wide")
    assert plan.model == "narrow" and plan.left_out == 4


def budget_in(refusal: TurnRejected) -> int:
    """The characters the model had room for, as the refusal says."""
    words = str(refusal).split("(about ")[1]
    return int(words.split(" characters")[0].replace(",", ""))


def refused_room(chosen: effective.ChatSettings) -> int:
    with pytest.raises(TurnRejected, match="too long for the model") as refused:
        fit_input([{"role": "user", "content": "x" * 10_000}], chosen=chosen)
    return budget_in(refused.value)


def test_the_window_counts_the_answers_room_the_instructions_and_the_tool_schemas():
    tools = context.estimate(declarations())
    assert tools > 0
    room = context.REQUEST_OVERHEAD
    narrow = effective.ChatSettings(model="narrow", max_output_tokens=100)
    assert refused_room(narrow) == (1000 - 100 - tools - room) * 3
    told = effective.ChatSettings(model="narrow", max_output_tokens=100, instructions="i" * 30)
    assert refused_room(told) == (1000 - 100 - 10 - tools - room) * 3
    bare = effective.ChatSettings(model="bare", max_output_tokens=100)  # no tools: no schemas
    assert refused_room(bare) == (1000 - 100 - room) * 3
    # No choice: the deployment's defaults (wide, no output limit: a quarter-window's room).
    with pytest.raises(TurnRejected) as refused:
        fit_input([{"role": "user", "content": "x" * 400_000}])
    assert budget_in(refused.value) == (100000 - 1024 - tools - room) * 3


def test_the_turn_is_refused_when_its_message_alone_does_not_fit(user):
    conversation = chat(user, "q", settings={"model": "narrow"})
    with pytest.raises(TurnRejected, match="too long for the model"):
        send(user, conversation.pk, text="y" * 3000)


def test_a_resumed_turn_plans_its_branch_its_recorded_settings_and_tools(user, settings):
    conversation = chat(user, "q1", "a1", "q2", hosted_tools_off=["code_interpreter", 3])
    q2 = Message.objects.get(text="q2")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status="streaming", parent=q2,
        model="narrow", settings={"model": "narrow", "instructions": "Be brief."},
    )  # fmt: skip
    plan = resume_plan(message=answer)
    assert (plan.user_id, plan.conversation_id, plan.text, plan.model) == (
        user.pk, conversation.pk, "", "narrow",
    )  # fmt: skip
    assert plan.input == [
        {"role": "user", "content": "q1"},
        {"type": "message", "role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ]
    assert plan.hosted_tools == ("web_search",)
    assert plan.settings == {"model": "narrow", "instructions": "Be brief."}
    Message.objects.filter(pk=answer.pk).update(settings={})
    answer.refresh_from_db()
    assert resume_plan(message=answer).settings is None  # old rows: the conversation's
    settings.CHAT_HOSTED_TOOLS = []
    assert resume_plan(message=answer).hosted_tools == ()


def test_the_tools_switched_off_of_no_conversation_or_a_gone_one_are_none(user):
    assert plan_module._tools_off(None) == []
    conversation = chat(user, "q")
    json_null = Value(None, output_field=JSONField())  # a JSON null, not SQL NULL
    Conversation.objects.filter(pk=conversation.pk).update(hosted_tools_off=json_null)
    assert plan_module._tools_off(conversation.pk) == []
    assert plan_module._tools_off(conversation.pk + 1000) == []
