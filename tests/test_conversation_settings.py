"""Per-conversation settings (chat/conversation_settings/): checked against what the model
supports, sent only where supported, copied onto each answer as it is asked."""

import pytest
from django.urls import reverse

from chat.conversation_settings import catalog, effective
from chat.models import Conversation, Message
from chat.turns.plan import plan_turn
from chat.turns.request import round_body
from chat.turns.start import start_turn
from chat.turns.state import TurnState

MODELS = ["small:2048:tools", "thinker:400000:reasoning+tools+background"]


@pytest.fixture
def offered(settings):
    settings.USE_LOCAL_MODEL = False
    settings.CHAT_MODEL = "small"
    settings.CHAT_MODELS = MODELS
    settings.CHAT_MAX_OUTPUT_TOKENS = 0


def check(**values):
    return effective.check({"model": "small", **values})


def test_a_bad_entry_in_chat_models_is_refused_at_start():
    for bad in ("name:lots", "name:4096:flying", ":4096", "tiny:100"):
        with pytest.raises(Exception, match="CHAT_MODELS entry"):
            catalog.parse(bad)
    assert catalog.parse("m:4096:reasoning+tools") == catalog.ModelInfo("m", 4096, True, True)


def test_what_a_model_does_not_support_is_refused_in_words(offered):
    assert check(model="other")[1] == {"model": "Choose one of the models this site offers."}
    assert "does not reason" in check(reasoning_effort="low")[1]["reasoning_effort"]
    assert "takes no temperature" in check(model="thinker", temperature="0.5")[1]["temperature"]
    assert "from 0 to 2" in check(temperature="3")[1]["temperature"]
    assert "from 0 to 2" in check(temperature="nan")[1]["temperature"]
    assert "up to 1,024" in check(max_output_tokens="5000")[1]["max_output_tokens"]
    assert "too long for small" in check(instructions="x" * 2000)[1]["instructions"]
    assert check(model="thinker", instructions="x" * 2000)[1] == {}
    chosen, errors = check(model="thinker", reasoning_effort="high", max_output_tokens="300")
    assert errors == {} and chosen.reasoning_effort == "high" and chosen.max_output_tokens == 300


def test_stored_settings_that_no_longer_fit_fall_back_to_the_defaults(offered):
    assert effective.of({"model": "small", "reasoning_effort": "high"}) == effective.defaults()
    assert effective.of({"temperature": 0.4}).temperature == 0.4
    assert effective.of("garbage") == effective.defaults()


def test_the_request_carries_only_what_the_model_supports(offered, settings):
    settings.CHAT_TOOLS = ["chat.tools.calculator.TOOL", "chat.tools.clock.TOOL"]
    small = effective.ChatSettings(model="small", instructions="Be kind.", temperature=0.2,
                                   max_output_tokens=64, tools_off=("current_time",))  # fmt: skip
    body = round_body(chosen=small, turn_input=[], state=TurnState(), function_tools=True,
                      hosted_tools=())  # fmt: skip
    assert body["temperature"] == 0.2 and body["instructions"] == "Be kind."
    assert body["max_output_tokens"] == 64 and "reasoning" not in body
    assert [t["name"] for t in body["tools"]] == ["calculator"]
    thinker = effective.ChatSettings(model="thinker", reasoning_effort="low", temperature=0.2)
    body = round_body(chosen=thinker, turn_input=[], state=TurnState(), function_tools=True,
                      hosted_tools=())  # fmt: skip
    assert body["reasoning"] == {"summary": "auto", "effort": "low"} and "temperature" not in body


@pytest.mark.django_db
def test_the_answer_records_what_it_was_asked_with(offered, user):
    conversation = Conversation.objects.create(
        owner=user, settings={"model": "thinker", "reasoning_effort": "medium"}
    )
    plan = plan_turn(user=user, conversation_id=conversation.pk, text="hi", model="small")
    assert plan.model == "thinker"
    started = start_turn(plan=plan, lease_owner="me")
    recorded = Message.objects.get(pk=started.assistant_message_id).settings
    assert recorded["model"] == "thinker" and recorded["reasoning_effort"] == "medium"
    assert recorded["hosted_tools"] == []
    Conversation.objects.filter(pk=conversation.pk).update(settings={"model": "small"})
    assert Message.objects.get(pk=started.assistant_message_id).settings == recorded


@pytest.mark.django_db
def test_the_markdown_transcript_says_what_each_answer_was_asked_with(client, user):
    conversation = Conversation.objects.create(owner=user, title="Asked")
    Message.objects.create(conversation=conversation, role="user", text="q")
    Message.objects.create(
        conversation=conversation, role="assistant", text="a", model="thinker",
        settings={"model": "thinker", "reasoning_effort": "high", "max_output_tokens": 300},
    )  # fmt: skip
    client.force_login(user)
    text = client.get(reverse("history:export", args=[conversation.pk, "md"])).content.decode()
    assert "*Asked with effort high, max 300 tokens*" in text
