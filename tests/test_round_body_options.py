"""What goes into the POST /v1/responses body of a round (chat/turns/request.py): the input in
order (the turn's, then this turn's earlier items), function tools only where the model and
the turn take them, reasoning and store options, the chosen settings only when set, and the
background flags only where background mode is on and the model supports it."""

import pytest

from chat.conversation_settings.effective import ChatSettings
from chat.turns.request import reasoning_options, round_body
from chat.turns.state import TurnState

MODELS = [
    "plain:4096",  # no tools, no reasoning, no background
    "tooled:4096:tools",
    "thinker:400000:reasoning+tools+background",
]
CALL = {"type": "function_call", "call_id": "c1", "name": "calculator", "arguments": "{}"}
OUTPUT = {"type": "function_call_output", "call_id": "c1", "output": "2"}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": ["hm"], "encrypted_content": "enc"}
SENT_REASONING = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [{"type": "summary_text", "text": "hm"}],
    "encrypted_content": "enc",
}
TURN_INPUT = [{"role": "user", "content": "1 + 1?"}]


@pytest.fixture(autouse=True)
def deployment(settings):
    settings.USE_LOCAL_MODEL = False
    settings.CHAT_MODEL = "plain"
    settings.CHAT_MODELS = MODELS
    settings.CHAT_TOOLS = ["chat.tools.calculator.TOOL", "chat.tools.clock.TOOL"]
    settings.CHAT_STORE = True
    settings.CHAT_BACKGROUND = False
    settings.CHAT_HOSTED_TOOLS = []
    return settings


def body(model="plain", *, state=None, function_tools=True, hosted=(), earlier=None, **chosen):
    return round_body(
        chosen=ChatSettings(model=model, **chosen),
        turn_input=TURN_INPUT,
        state=state or TurnState(),
        function_tools=function_tools,
        hosted_tools=hosted,
        earlier=earlier,
    )


def with_items(*items):
    return TurnState.restore(
        items=[dict(i) for i in items], status="streaming", response_id=None, model=None,
        last_seq=None, background=False,
    )  # fmt: skip


def test_a_bare_model_gets_the_model_and_the_input_and_nothing_else():
    assert body() == {"model": "plain", "input": TURN_INPUT}


def test_the_turns_earlier_items_follow_its_input_with_reasoning_only_when_not_stored(settings):
    state = with_items(REASONING, CALL, OUTPUT)
    stored = body(state=state)["input"]
    assert stored == [*TURN_INPUT, CALL, OUTPUT]  # stored upstream: reasoning is not re-sent
    settings.CHAT_STORE = False
    assert body(state=state)["input"] == [*TURN_INPUT, SENT_REASONING, CALL, OUTPUT]


def test_earlier_items_built_by_the_caller_are_sent_as_given_not_the_states():
    given = [{"type": "message", "role": "assistant", "content": "approved"}]
    state = with_items(CALL, OUTPUT)
    assert body(state=state, earlier=given)["input"] == [*TURN_INPUT, *given]
    assert body(state=state, earlier=[])["input"] == TURN_INPUT


def test_function_tools_go_only_to_a_tool_model_on_a_turn_that_takes_them():
    names = ["calculator", "current_time"]
    assert [t["name"] for t in body("tooled")["tools"]] == names
    assert "tools" not in body("tooled", function_tools=False)
    assert "tools" not in body("plain")  # the model cannot call them
    assert "tools" not in body("tooled", tools_off=tuple(names))  # all off: no empty list
    kept = body("tooled", tools_off=("current_time",))["tools"]
    assert [t["name"] for t in kept] == ["calculator"]
    assert kept[0]["type"] == "function"


def test_hosted_tools_come_after_the_function_tools_with_their_include(settings):
    settings.CHAT_STORE = False
    sent = body("thinker", hosted=("web_search",))
    assert [t.get("name") or t["type"] for t in sent["tools"]] == [
        "calculator", "current_time", "web_search",
    ]  # fmt: skip
    assert sent["include"] == ["reasoning.encrypted_content", "web_search_call.action.sources"]
    assert body("plain", hosted=("web_search",))["tools"] == [{"type": "web_search"}]


def test_settings_are_sent_only_when_set_and_a_zero_temperature_is_set():
    assert body(instructions="Be brief.")["instructions"] == "Be brief."
    assert body(max_output_tokens=300)["max_output_tokens"] == 300
    assert body(temperature=0.0)["temperature"] == 0.0
    assert body(temperature=1.5)["temperature"] == 1.5
    bare = body(instructions="", max_output_tokens=0, temperature=None)
    assert set(bare) == {"model", "input"}
    assert "temperature" not in body("thinker", temperature=0.5)  # a reasoning model: none


def test_a_reasoning_model_asks_for_summaries_with_the_effort_when_chosen(settings):
    assert body("thinker")["reasoning"] == {"summary": "auto"}
    assert body("thinker", reasoning_effort="high")["reasoning"] == {
        "summary": "auto",
        "effort": "high",
    }
    assert "reasoning" not in body("tooled", reasoning_effort="high")


def test_not_stored_means_store_false_and_encrypted_reasoning_for_a_reasoning_model(settings):
    settings.CHAT_STORE = False
    assert reasoning_options(ChatSettings(model="tooled")) == {"store": False}
    assert reasoning_options(ChatSettings(model="thinker")) == {
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    settings.CHAT_STORE = True
    assert reasoning_options(ChatSettings(model="tooled")) == {}
    assert reasoning_options(ChatSettings(model="thinker")) == {"reasoning": {"summary": "auto"}}


def test_background_mode_stores_upstream_only_for_a_model_that_supports_it(settings):
    settings.CHAT_STORE = False
    settings.CHAT_BACKGROUND = True
    sent = body("thinker")
    assert (sent["background"], sent["store"]) == (True, True)
    assert "include" not in sent  # stored upstream: no encrypted reasoning to carry
    assert reasoning_options(ChatSettings(model="thinker")) == {"reasoning": {"summary": "auto"}}
    plain = body("tooled")  # no background support: a stateless, unstored request
    assert "background" not in plain and plain["store"] is False
    settings.CHAT_BACKGROUND = False
    sent = body("thinker")
    assert "background" not in sent and sent["store"] is False
