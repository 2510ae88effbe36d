"""TurnRunner before and around its stream, driven directly (no database, no upstream): the
settings it starts from, a resumed turn's carried-over state, which tools it offers, which
calls it answers, what each request asks for, and who may stop it."""

import asyncio
from datetime import UTC, datetime

import orjson
import pytest

from chat.turns.items import Item
from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.resume import Resume
from chat.turns.runner import PROCESS_ID, NullPublisher, TurnRunner
from chat.upstream.events import parse_event
from tests import tool_kit
from tests.fake_streams import _tool_events

EARLIER = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LATER = datetime(2026, 1, 2, 3, 4, 9, tzinfo=UTC)


def plan(**fields) -> TurnPlan:
    return TurnPlan(**{"user_id": 1, "conversation_id": None, "text": "hi", "model": "m",
                       "input": [], **fields})  # fmt: skip


def runner(**fields) -> TurnRunner:
    return TurnRunner(plan=plan(**fields), config=None)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def offered(settings):
    settings.CHAT_TOOLS = tool_kit.BUILTINS
    settings.USE_LOCAL_MODEL = False
    settings.CHAT_MODEL = "m"
    settings.CHAT_MAX_OUTPUT_TOKENS = 0
    settings.CHAT_MODELS = ["plain:4096", "tooly:4096:tools"]
    settings.CHAT_FLUSH_INTERVAL = 0.03
    settings.CHAT_FLUSH_INTERVAL_MAX = 0.04
    settings.CHAT_CHECKPOINT_INTERVAL = 2.5
    return settings


def test_timing_comes_from_the_settings_unless_given():
    fresh = runner()
    assert (fresh.flush_interval, fresh.widest_flush_interval) == (0.03, 0.04)
    assert fresh.checkpoint_interval == 2.5
    given = TurnRunner(plan=plan(), config=None, flush_interval=0.1)  # type: ignore[arg-type]
    assert (given.flush_interval, given.widest_flush_interval) == (0.1, 0.1)  # never narrower
    off = TurnRunner(plan=plan(), config=None, flush_interval=0.0)  # type: ignore[arg-type]
    assert off.flush_interval == 0.0  # zero is a choice, not "unset"


def test_a_new_turn_starts_empty_with_a_lease_owner_of_its_own():
    one, two = runner(), runner()
    assert isinstance(one.publisher, NullPublisher) and one.on_started is None
    assert one.lease_owner.startswith(f"{PROCESS_ID}-") and len(one.lease_owner) == 26
    assert one.lease_owner != two.lease_owner
    assert one.state.items == [] and one.state.status != "completed"
    assert (one.seq, one.started, one.stored, one.tool_rounds) == (0, None, None, 0)
    assert one.first_event_at is None and one.first_token_at is None
    assert one.resume is None and one.output_limit is None


def test_the_config_and_the_start_hook_are_kept():
    config, hook = object(), print
    turn = TurnRunner(plan=plan(), config=config, on_started=hook)  # type: ignore[arg-type]
    assert turn.config is config and turn.on_started is hook


def test_a_resumed_turn_carries_its_owner_times_and_items():
    items = [Item(type="message", id="msg_1", status="in_progress").to_dict()]
    resume = Resume(
        message_id=7, conversation_id=3, lease_owner="runner-dead", response_id="resp_1",
        last_seq=4, items=items, model="m", first_event_at=EARLIER, first_token_at=LATER,
    )  # fmt: skip
    resumed = TurnRunner(plan=plan(), config=None, resume=resume)  # type: ignore[arg-type]
    assert resumed.resume is resume and resumed.lease_owner == "runner-dead"
    assert [i.id for i in resumed.state.items] == ["msg_1"] and resumed.state.last_seq == 4
    snapshot = resumed.snapshot()
    assert (snapshot.first_event_at, snapshot.first_token_at) == (EARLIER, LATER)
    resumed._begin()
    assert resumed._write is None and resumed._write_rows() is None  # its rows exist
    assert resumed.started == resumed.shown == StartedTurn(3, 0, 7)  # its frames name it at once
    assert resumed._conversation_id() == 3


def test_history_left_out_is_noted_with_the_answer():
    assert runner(left_out=2).snapshot().warnings == [
        "2 earlier messages were left out to fit the model."
    ]
    assert runner().snapshot().warnings == []


def test_tools_offered_are_the_enabled_ones_the_conversation_kept_on():
    assert set(runner(model="tooly").tools) == {
        "current_time",
        "calculator",
        "search_conversations",
    }
    chosen = {"model": "tooly", "tools_off": ["calculator"]}
    assert set(runner(settings=chosen).tools) == {"current_time", "search_conversations"}
    assert runner(model="plain").tools == {}  # a model without function calling


def test_the_turn_settings_are_the_planned_ones_else_the_defaults():
    chosen = runner(settings={"model": "tooly", "max_output_tokens": 64}).chosen
    assert (chosen.model, chosen.max_output_tokens) == ("tooly", 64)
    assert runner(model="plain").chosen.model == "plain"
    assert runner(model="").chosen.model == "m"  # CHAT_MODEL
    assert runner(settings={"max_output_tokens": 64}).output_limit == 64


def test_each_request_records_the_output_limit_it_sent():
    limited = runner(settings={"model": "tooly", "max_output_tokens": 64})
    limited.output_limit = None
    body = limited._request_body()
    assert body["model"] == "tooly" and body["max_output_tokens"] == 64
    assert limited.output_limit == 64
    assert [t["name"] for t in body["tools"]] == [
        "current_time",
        "calculator",
        "search_conversations",
    ]
    plain = runner(model="plain", input=[{"role": "user", "content": "hi"}])
    plain.output_limit = 5
    body = plain._request_body()
    assert "tools" not in body and body["input"] == [{"role": "user", "content": "hi"}]
    assert plain.output_limit is None


def apply(state, events) -> None:
    for event in events:
        state.apply(parse_event(orjson.dumps(event)))


def test_the_calls_answered_are_those_of_this_completed_round():
    turn = runner(model="tooly")
    apply(turn.state, _tool_events([("calculator", {"expression": "1"})], "", (1, 1)))
    first = turn._calls_to_answer()
    assert [(c.name, c.arguments) for c in first] == [("calculator", '{"expression":"1"}')]
    assert first[0].call_id == turn.state.items[-1].call_id
    turn.state.add_item(Item(type="function_call_output", call_id=first[0].call_id, output="1"))
    turn.state.begin_round()
    apply(turn.state, _tool_events([("current_time", {}), ("calculator", "{}")], "", (1, 1)))
    turn.state.items[-1].call_id = None  # a call without an id cannot be answered
    turn.state.items[-2].name = None
    assert [(c.name, c.arguments) for c in turn._calls_to_answer()] == [("", "{}")]


def test_no_calls_are_answered_from_a_failed_round_or_without_tools():
    events = _tool_events([("calculator", {"expression": "1"})], "", (1, 1))
    unfinished = runner(model="tooly")
    apply(unfinished.state, events[:-1])  # no response.completed
    assert unfinished._calls_to_answer() == []
    toolless = runner(model="plain")
    apply(toolless.state, events)
    assert toolless._calls_to_answer() == []


def test_the_conversation_is_the_started_one_else_the_planned_one():
    turn = runner(conversation_id=5)
    assert turn._conversation_id() == 5
    turn.started = StartedTurn(6, 1, 2)
    assert turn._conversation_id() == 6


async def test_only_the_first_stop_counts_and_it_cancels_the_running_task():
    turn = runner()
    turn._task = task = asyncio.create_task(asyncio.Event().wait())
    assert turn.cancel(interrupt=True) is True
    assert turn._cancel_requested and turn._interrupt
    assert turn.cancel() is False and turn._interrupt  # the second changes nothing
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


async def test_no_stop_once_the_end_is_being_stored():
    turn = runner()
    turn._ending = True
    assert turn.cancel() is False and not turn._cancel_requested


async def test_a_stop_before_the_task_runs_is_recorded_for_it():
    turn = runner()
    assert turn.cancel() is True  # no task yet: run() sees the flag
    assert turn._cancel_requested and not turn._interrupt
