"""The tool loop end to end: TurnRunner, the real database and the loopback fake upstream.
A round that ends in function calls is answered by our tools and the next round streams on
into the same message, with a usage row per round."""

import pytest

from chat.models import Message
from tests import fake_upstream as fake
from tests import tool_kit
from tests.fake_streams import answer_with_outputs, outputs_of, tool_call_stream
from tests.test_runner import run_turn, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def tools(settings):
    settings.CHAT_TOOLS = [*tool_kit.BUILTINS, "tests.tool_kit.BOOM", "tests.tool_kit.HANG",
                           "tests.tool_kit.MEET"]  # fmt: skip
    settings.CHAT_TOOL_TIMEOUT = 5.0
    tool_kit.reset_meeting()


def posts(upstream) -> list[dict]:
    return [r["json"] for r in upstream.requests if r["method"] == "POST"]


def types(message: Message) -> list[str]:
    return [i["type"] for i in message.items]


async def test_two_rounds_answer_calls_and_stream_into_one_message(upstream, user):
    upstream.enqueue(
        tool_call_stream(
            [("calculator", {"expression": "6 * 7"}), ("current_time", {"timezone": "UTC"})],
            summary="I should compute it.",
            usage=(30, 12),
        ),
        answer_with_outputs(delay=0),
    )
    runner = await run_turn(user, text="What is 6*7, and what time is it?")
    message, usage = await stored(runner)
    first, second = posts(upstream)
    assert message.status == "completed"
    assert types(message) == [
        "reasoning", "function_call", "function_call", "function_call_output",
        "function_call_output", "message",
    ]  # fmt: skip
    assert message.items[0]["summary"] == ["I should compute it."]
    outputs = outputs_of(second)
    assert outputs["calculator"] == "42"
    assert "UTC" in outputs["current_time"]
    assert message.text.startswith("Results: calculator=42; current_time=")
    # the second request carries the whole input again: it works without stored state
    assert second["input"][0] == {"role": "user", "content": "What is 6*7, and what time is it?"}
    assert "previous_response_id" not in second
    declared = {t["name"]: t for t in first["tools"]}
    assert declared["calculator"]["strict"] is True
    assert declared["calculator"]["parameters"]["additionalProperties"] is False
    assert first["tools"] == second["tools"]
    # each round keeps its response id and has its own ledger row
    assert [r["response_id"] for r in message.rounds] == [r.response_id for r in usage[::-1]]
    assert len({r["response_id"] for r in message.rounds}) == 2
    assert message.response_id == message.rounds[-1]["response_id"]
    by_round = {r.response_id: r for r in usage}
    first_row = by_round[message.rounds[0]["response_id"]]
    assert (first_row.input_tokens, first_row.output_tokens, first_row.estimated) == (30, 12, False)
    assert not by_round[message.rounds[1]["response_id"]].estimated


async def test_parallel_calls_run_at_the_same_time(upstream, user):
    upstream.enqueue(tool_call_stream([("meet", {}), ("meet", {})]), answer_with_outputs(delay=0))
    runner = await run_turn(user)
    message, _ = await stored(runner)
    outputs = [i["output"] for i in message.items if i["type"] == "function_call_output"]
    assert outputs == ["met", "met"]  # one at a time, the first would wait forever


@pytest.mark.parametrize(
    "name,expected",
    [
        ("rm_rf", "Error: There is no tool named 'rm_rf'."),
        ("boom", "Error: The tool boom failed (RuntimeError)."),
        ("hang", "Error: The tool hang did not answer within 0.3 seconds."),
    ],
)
async def test_a_bad_call_becomes_an_error_output_never_a_crashed_turn(
    upstream, user, settings, name, expected
):
    settings.CHAT_TOOL_TIMEOUT = 0.3
    upstream.enqueue(
        tool_call_stream([(name, {}), ("calculator", {"expression": "1+1"})]),
        answer_with_outputs(delay=0),
    )
    runner = await run_turn(user)
    message, usage = await stored(runner)
    outputs = {i["call_id"]: i for i in message.items if i["type"] == "function_call_output"}
    calls = [i for i in message.items if i["type"] == "function_call"]
    assert [c["name"] for c in calls] == [name, "calculator"]  # the bad call is recorded
    bad, good = (outputs[c["call_id"]] for c in calls)
    assert (bad["output"], bad["status"]) == (expected, "failed")
    assert (good["output"], good["status"]) == ("2", "completed")
    assert "secret internals" not in str(message.items)
    assert message.status == "completed" and len(usage) == 2
    assert outputs_of(posts(upstream)[1])[name] == expected


async def test_bad_arguments_are_answered_so_the_model_can_retry(upstream, user):
    upstream.enqueue(
        tool_call_stream(
            [("calculator", "{not json"), ("current_time", {"timezone": "Mars/Base"})]
        ),
        answer_with_outputs(delay=0),
    )
    runner = await run_turn(user)
    outputs = outputs_of(posts(upstream)[1])
    assert outputs["calculator"] == "Error: The arguments are not valid JSON."
    assert outputs["current_time"].startswith("Error: Unknown time zone 'Mars/Base'")
    assert runner.state.status == "completed"


async def test_the_round_limit_ends_the_turn_as_incomplete(upstream, user, settings):
    settings.CHAT_MAX_TOOL_ROUNDS = 2
    upstream.default = tool_call_stream([("calculator", {"expression": "2**10"})])
    runner = await run_turn(user)
    message, usage = await stored(runner)
    assert len(posts(upstream)) == 3  # two tool rounds answered, the third call is not
    assert message.status == "incomplete"
    assert message.incomplete_reason == "max_tool_rounds"
    assert "2 rounds of tool calls" in message.warnings[-1]
    assert types(message).count("function_call") == 3
    assert types(message).count("function_call_output") == 2
    assert len(message.rounds) == 3 and len(usage) == 3


async def test_a_later_turn_sends_the_calls_with_their_outputs(upstream, user):
    upstream.enqueue(
        tool_call_stream([("calculator", {"expression": "6*7"})]),
        answer_with_outputs(delay=0),
        fake.text_stream("ok", delay=0),
    )
    first = await run_turn(user, text="6*7?")
    await run_turn(user, text="thanks", conversation_id=first.started.conversation_id)
    sent = posts(upstream)[-1]["input"]
    assert [i.get("type") or i["role"] for i in sent] == [
        "user", "function_call", "function_call_output", "message", "user",
    ]  # fmt: skip
    assert sent[2]["output"] == "42" and sent[1]["call_id"] == sent[2]["call_id"]
    assert sent[3]["content"] == "Results: calculator=42"


async def test_without_function_tools_calls_are_kept_and_not_answered(upstream, user, settings):
    settings.CHAT_TOOLS = []
    upstream.enqueue(tool_call_stream([("calculator", {"expression": "1"})]))
    runner = await run_turn(user)
    message, _ = await stored(runner)
    assert message.status == "completed" and len(posts(upstream)) == 1
    assert "tools" not in posts(upstream)[0]
    assert types(message) == ["function_call"]
