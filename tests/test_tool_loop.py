"""The tool loop end to end: TurnRunner, the real database and the loopback fake upstream.
A round that ends in function calls is answered by our tools and the next round streams on
into the same message, with a usage row per round."""

import asyncio
from datetime import timedelta

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat.models import Message
from chat.turns import endpoint
from chat.turns.items import Item
from chat.turns.plan import plan_turn, resume_plan
from chat.turns.resume import Resume
from chat.turns.runner import TurnRunner
from chat.turns.save import checkpoint_turn
from chat.turns.snapshot import snapshot_of
from chat.turns.start import start_turn
from chat.turns.state import TurnState
from chat.turns.takeover import interrupt_turn
from chat.upstream.client import close_shared_client
from chat.upstream.events import parse_event
from tests import fake_upstream as fake
from tests import tool_kit
from tests.fake_streams import _tool_events, answer_with_outputs, outputs_of, tool_call_stream
from tests.test_critical_paths import counted_writes, install_write_counter, remove_write_counter
from tests.test_round_state import text_round
from tests.test_runner import Recorder, run_turn, stored

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


async def test_stop_in_round_two_keeps_round_one_and_bills_both(upstream, user):
    upstream.enqueue(
        tool_call_stream([("calculator", {"expression": "6*7"})], usage=(30, 12)),
        fake.text_stream("word " * 400, chunk=5, delay=0.01),
    )
    recorder = Recorder()
    plan = await sync_to_async(plan_turn)(user=user, conversation_id=None, text="go", model="m")
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config(), publisher=recorder)
    task = asyncio.create_task(runner.run())
    await recorder.wait_for_text(20)
    runner.cancel()
    await task
    await close_shared_client()
    message, usage = await stored(runner)
    assert message.status == "cancelled"
    assert types(message) == ["function_call", "function_call_output", "message"]
    assert message.text.startswith("word") and len(message.text) < len("word " * 400)
    assert len(message.rounds) == 2
    rows = {r.response_id: r for r in usage}
    first, second = (rows[r["response_id"]] for r in message.rounds)
    assert (first.input_tokens, first.output_tokens, first.estimated) == (30, 12, False)
    assert second.estimated and second.output_tokens == -(-len(message.text) // 4)
    assert second.status == "cancelled" and first.status == "completed"


async def test_stop_while_the_tools_run_asks_for_no_second_round(upstream, user, settings):
    settings.CHAT_TOOL_TIMEOUT = 30.0
    upstream.enqueue(tool_call_stream([("hang", {})]))
    plan = await sync_to_async(plan_turn)(user=user, conversation_id=None, text="go", model="m")
    recorder = Recorder()
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config(), publisher=recorder)
    task = asyncio.create_task(runner.run())
    while not any(i.type == "function_call" for i in runner.state.items) or runner.tool_rounds:
        recorder.event.clear()
        await asyncio.wait_for(recorder.event.wait(), 5)
    await asyncio.sleep(0)  # the runner is now waiting on the tool
    runner.cancel()
    await asyncio.wait_for(task, 5)
    await close_shared_client()
    message, usage = await stored(runner)
    assert message.status == "cancelled" and len(posts(upstream)) == 1
    assert types(message) == ["function_call"] and len(usage) == 1


async def test_a_background_turn_resumes_in_round_two(upstream, user, settings):
    """A runner died mid round 2 (its checkpoint is all there is): another takes over."""
    started, round_two = await sync_to_async(mid_round_two)(user, "dead")
    upstream.enqueue(fake.events(round_two))  # GET /responses/resp_bg_r2?starting_after=2
    message = await sync_to_async(Message.objects.select_related("conversation").get)(
        pk=started.assistant_message_id
    )
    resume = Resume(
        message_id=message.pk, conversation_id=message.conversation_id, lease_owner="dead",
        response_id=message.response_id, last_seq=message.last_seq, items=message.items,
        model=message.model, first_event_at=None, first_token_at=None, rounds=message.rounds,
    )  # fmt: skip
    resumed_plan = await sync_to_async(resume_plan)(message=message)
    assert resumed_plan.input == [{"role": "user", "content": "6*7?"}]
    runner = TurnRunner(plan=resumed_plan, config=await endpoint.upstream_config(), resume=resume)
    await runner.run()
    await close_shared_client()
    final, usage = await stored(runner)
    get = [r for r in upstream.requests if r["method"] == "GET"][0]
    assert "resp_bg_r2" in get["path"] and get["query"]["starting_after"] == "2"
    assert final.status == "completed" and final.text == "The answer is 42."
    assert types(final) == ["function_call", "function_call_output", "message"]
    assert [r["response_id"] for r in final.rounds][1] == "resp_bg_r2"
    assert sorted((r.input_tokens, r.estimated) for r in usage) == [(3, False), (20, False)]


async def test_no_write_and_no_frame_per_delta_in_a_tool_round(upstream, user, settings):
    settings.CHAT_CHECKPOINT_INTERVAL = 2.0
    upstream.enqueue(
        tool_call_stream([("calculator", {"expression": "1+1"})]),
        fake.text_stream("x" * 1200, chunk=4, delay=0.002),  # 300 deltas in round 2
    )
    await sync_to_async(install_write_counter)()
    try:
        recorder = Recorder()
        runner = await run_turn(user, publisher=recorder, flush_interval=0.03)
        writes = await sync_to_async(counted_writes)()
    finally:
        await sync_to_async(remove_write_counter)()
    assert runner.state.text == "x" * 1200 and len(runner.state.all_rounds()) == 2
    assert writes <= 6  # checkpoints (first event, first token, new round) and the final save
    assert len(recorder.frames) < 60  # 300 deltas, coalesced


def mid_round_two(user, lease_owner: str):
    """A turn saved by its last checkpoint in the middle of round 2."""
    plan = plan_turn(user=user, conversation_id=None, text="6*7?", model="m")
    started = start_turn(plan=plan, lease_owner=lease_owner)
    state = TurnState()
    for event in _tool_events([("calculator", {"expression": "6*7"})], "", (20, 5)):
        state.apply(parse_event(orjson.dumps(event)))
    call = state.items[-1]
    state.add_item(Item(type="function_call_output", call_id=call.call_id, output="42"))
    state.begin_round()
    round_two = text_round("resp_bg_r2", "The answer is 42.")
    for event in round_two[:3]:  # created, item added, the text delta: seq 0 to 2
        state.apply(parse_event(orjson.dumps(event)))
    checkpoint_turn(
        message_id=started.assistant_message_id,
        snapshot=snapshot_of(state, first_event_at=timezone.now()),
        lease_owner=lease_owner,
    )
    return started, round_two


def test_an_interrupted_tool_turn_bills_each_round(user):
    started, _ = mid_round_two(user, "dead")
    Message.objects.filter(pk=started.assistant_message_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    message = interrupt_turn(message_id=started.assistant_message_id)
    assert message.status == "interrupted" and message.text == "The answer is 42."
    rows = {r.response_id: r for r in message.usage_records.all()}
    first = rows[message.rounds[0]["response_id"]]
    assert (first.input_tokens, first.output_tokens, first.estimated) == (20, 5, False)
    second = rows["resp_bg_r2"]
    assert second.estimated and second.output_tokens == -(-len("The answer is 42.") // 4)
    assert len(rows) == 2
