"""TurnRunner.run end to end with stand-ins for the database and the upstream (no socket, no
server): rounds, resumption, cut and failed streams, the tool-round limit, Stop, a failed
first write and a cancel from outside; each asserted on the snapshot the final save got."""

import asyncio
import logging

import orjson
import pytest
from django.utils import timezone

from chat import images
from chat.turns import runner as runner_module
from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.resume import Resume
from chat.turns.runner import TurnRunner
from chat.upstream.client import UpstreamConfig
from chat.upstream.errors import UpstreamError
from chat.upstream.events import parse_event
from tests import tool_kit
from tests.fake_streams import _tool_events
from tests.test_round_state import text_round

STARTED = StartedTurn(4, 5, 6)
CONFIG = UpstreamConfig(base_url="http://upstream.test/v1")
HOLD = "hold"  # the server goes silent here
INPUT = [{"role": "user", "content": "hi"}]


class Upstream:
    """stream_response and resume_stream: one scripted round per request."""

    def __init__(self, *rounds: list) -> None:
        self.rounds = list(rounds)
        self.bodies: list[dict] = []
        self.resumed: list[tuple[str, int | None]] = []
        self.closed = 0

    def stream_response(self, body, *, config):
        assert config is CONFIG
        self.bodies.append(body)
        return self._events(self.rounds.pop(0))

    def resume_stream(self, response_id, *, starting_after, config):
        assert config is CONFIG
        self.resumed.append((response_id, starting_after))
        return self._events(self.rounds.pop(0))

    async def _events(self, events):
        try:
            for event in events:
                if isinstance(event, Exception):
                    raise event
                if event == HOLD:
                    await asyncio.Event().wait()
                elif callable(event):  # wait for the runner to get there
                    while not event():  # noqa: ASYNC110 (no event to wait on: step the loop)
                        await asyncio.sleep(0)
                else:
                    yield parse_event(orjson.dumps(event))
        finally:
            self.closed += 1


class Frames:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.event = asyncio.Event()

    def publish(self, seq, state, changes):
        self.texts.append(state.text)
        self.event.set()

    async def until(self, condition) -> None:
        while not condition():
            self.event.clear()
            await asyncio.wait_for(self.event.wait(), 5)


@pytest.fixture
def saved(monkeypatch, settings) -> list:
    """The first rows, checkpoints, images and the final save, stood in for."""
    settings.USE_LOCAL_MODEL = False
    settings.CHAT_MODEL = "m"
    settings.CHAT_MODELS = ["m:4096:tools"]
    settings.CHAT_MAX_OUTPUT_TOKENS = 0
    settings.CHAT_TOOLS = tool_kit.BUILTINS
    settings.CHAT_CHECKPOINT_INTERVAL = 100.0
    settings.CHAT_FLUSH_INTERVAL = 0.03
    settings.CHAT_FLUSH_INTERVAL_MAX = 0.04
    finals: list = []

    async def store_final(**kwargs):
        finals.append(kwargs["snapshot"]())
        return "row"

    async def no_images(state, **kwargs):
        pass

    async def no_cancel(response_id, *, config):
        pass

    monkeypatch.setattr(runner_module, "start_turn", lambda **kw: STARTED)
    monkeypatch.setattr(runner_module, "checkpoint_turn", lambda **kw: finals.append("checkpoint"))
    monkeypatch.setattr(runner_module, "store_final", store_final)
    monkeypatch.setattr(runner_module, "cancel_response", no_cancel)
    monkeypatch.setattr(images, "store_turn_images", no_images)
    return finals


def scripted(monkeypatch, *rounds, **kwargs) -> tuple[TurnRunner, Upstream, Frames]:
    upstream = Upstream(*rounds)
    monkeypatch.setattr(runner_module, "stream_response", upstream.stream_response)
    monkeypatch.setattr(runner_module, "resume_stream", upstream.resume_stream)
    plan = TurnPlan(user_id=1, conversation_id=None, text="hi", model="m", input=INPUT,
                    settings=kwargs.pop("settings", None))  # fmt: skip
    frames = Frames()
    runner = TurnRunner(plan=plan, config=CONFIG, publisher=frames, **kwargs)
    return runner, upstream, frames


async def stepped_until(condition) -> None:
    """Step the loop until the runner gets there (no frame marks every moment)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the runner never got there")


def final_of(saved: list):
    [final] = [s for s in saved if s != "checkpoint"]
    return final


async def test_a_turn_streams_to_its_stored_answer(monkeypatch, saved):
    runner, upstream, frames = scripted(monkeypatch, text_round("resp_1", "Hello"))
    snapshot = await runner.run()
    final = final_of(saved)
    assert snapshot.status == final.status == "completed" and final.text == "Hello"
    assert final.first_event_at is not None and final.first_token_at is not None
    assert final.first_event_at <= final.first_token_at
    assert upstream.bodies[0]["input"] == INPUT and upstream.closed == 1
    assert frames.texts and frames.texts[-1] == "Hello"
    assert runner._ending and runner.stored == "row" and runner._tick.live == 0
    assert (runner._tick.interval, runner._tick.widest) == (0.03, 0.04)  # the settings


async def test_the_first_event_and_the_first_token_are_checkpointed_at_once(monkeypatch, saved):
    events = text_round("resp_1", "Hello")
    runner, _, _ = scripted(monkeypatch, [lambda: runner.started, events[0],
                                          lambda: saved, lambda: runner._checkpoint is None,
                                          *events[1:]])  # fmt: skip
    await runner.run()
    assert saved[:2] == ["checkpoint", "checkpoint"]  # the interval is 100 s: both at once


async def test_a_stream_that_ends_without_a_final_status_fails_as_cut(monkeypatch, saved):
    runner, upstream, _ = scripted(monkeypatch, text_round("resp_1", "Hel")[:-1])
    await runner.run()
    final = final_of(saved)
    assert (final.status, final.error_code, final.text) == ("failed", "stream_cut", "Hel")
    assert final.error_message == "The model server ended the stream without a final status."
    assert upstream.closed == 1


async def test_an_upstream_error_mid_stream_fails_with_its_code(monkeypatch, saved):
    error = UpstreamError(kind="idle_timeout", message="The model server went silent.")
    runner, upstream, _ = scripted(monkeypatch, [*text_round("resp_1", "Hel")[:3], error])
    await runner.run()
    final = final_of(saved)
    assert (final.status, final.error_code) == ("failed", "idle_timeout")
    assert final.error_message == "The model server went silent." and final.text == "Hel"
    assert upstream.closed == 1


async def test_a_resumed_background_turn_reads_on_after_its_last_event(monkeypatch, saved):
    resume = Resume(
        message_id=6, conversation_id=4, lease_owner="dead", response_id="resp_bg", last_seq=1,
        items=[], model="m", first_event_at=None, first_token_at=None,
    )  # fmt: skip
    round_ = text_round("resp_bg", "Back")
    runner, upstream, _ = scripted(monkeypatch, round_[2:], resume=resume)
    await runner.run()
    assert upstream.resumed == [("resp_bg", 1)] and upstream.bodies == []
    assert final_of(saved).text == "Back" and runner.started == StartedTurn(4, 0, 6)


def tool_round(*calls) -> list[dict]:
    return _tool_events(list(calls), "", (5, 5))


async def test_rounds_go_on_while_the_model_calls_tools(monkeypatch, saved):
    runner, upstream, _ = scripted(
        monkeypatch, tool_round(("calculator", {"expression": "6*7"})),
        text_round("resp_2", "It is 42."),
    )  # fmt: skip
    await runner.run()
    final = final_of(saved)
    assert final.status == "completed" and final.text == "It is 42."
    assert runner.tool_rounds == 1 and len(final.rounds) == 2
    sent = upstream.bodies[1]["input"]
    assert [i.get("type") for i in sent[1:]] == ["function_call", "function_call_output"]
    assert sent[-1]["output"] == "42" and upstream.closed == 2


async def test_the_tool_round_limit_ends_the_turn_as_incomplete(monkeypatch, saved, settings):
    settings.CHAT_MAX_TOOL_ROUNDS = 2
    call = ("calculator", {"expression": "1"})
    runner, upstream, _ = scripted(monkeypatch, *[tool_round(call)] * 3)
    await runner.run()
    final = final_of(saved)
    assert (final.status, final.incomplete_reason) == ("incomplete", "max_tool_rounds")
    assert final.warnings == ["Stopped after 2 rounds of tool calls (the limit)."]
    assert len(upstream.bodies) == 3 and runner.tool_rounds == 2


async def test_a_round_that_used_every_output_token_is_cut_at_the_limit(monkeypatch, saved):
    round_ = text_round("resp_1", "Hel")
    round_[-1]["response"]["usage"]["output_tokens"] = 1
    runner, upstream, _ = scripted(monkeypatch, round_, settings={"max_output_tokens": 1})
    await runner.run()
    final = final_of(saved)
    assert (final.status, final.incomplete_reason) == ("incomplete", "max_output_tokens")
    assert upstream.bodies[0]["max_output_tokens"] == 1


async def test_a_stop_before_the_run_asks_nothing_upstream(monkeypatch, saved):
    runner, upstream, _ = scripted(monkeypatch, text_round("resp_1", "Hello"))
    runner.cancel()
    snapshot = await runner.run()
    assert snapshot.status == final_of(saved).status == "cancelled"
    assert upstream.bodies == [] and runner.started == STARTED


@pytest.mark.parametrize(("interrupt", "status"), [(False, "cancelled"), (True, "interrupted")])
async def test_a_stop_mid_stream_keeps_the_partial_answer(monkeypatch, saved, interrupt, status):
    runner, upstream, frames = scripted(monkeypatch, [*text_round("resp_1", "Hel")[:3], HOLD])
    task = asyncio.create_task(runner.run())
    await frames.until(lambda: runner.state.text)
    assert runner.cancel(interrupt=interrupt)
    snapshot = await asyncio.wait_for(task, 5)
    final = final_of(saved)
    assert snapshot.status == final.status == status and final.text == "Hel"
    assert upstream.closed == 1 and task.cancelling() == 0  # the Stop is not passed on


async def test_a_cancel_from_outside_is_saved_then_raised(monkeypatch, saved):
    runner, _, frames = scripted(monkeypatch, [*text_round("resp_1", "Hel")[:3], HOLD])
    task = asyncio.create_task(runner.run())
    await frames.until(lambda: runner.state.text)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert final_of(saved).status == "cancelled"


async def test_a_failed_first_write_stops_the_stream_and_saves_nothing(monkeypatch, saved, caplog):
    def refuse(**kwargs):
        raise RuntimeError("no database")

    monkeypatch.setattr(runner_module, "start_turn", refuse)
    runner, upstream, _ = scripted(monkeypatch, [*text_round("resp_1", "Hel")[:3], HOLD])
    with pytest.raises(RuntimeError, match="no database"):
        await asyncio.wait_for(runner.run(), 5)
    assert saved == [] and upstream.closed == 1
    assert runner.state.status != "cancelled"  # not a Stop: nothing to store it in
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["could not store the start of the turn; upstream request cancelled"]


def split_text_round(rid: str, first: str, rest: str, mark) -> list:
    """A round whose text comes in two deltas, with `mark` called once before the first
    token and once after the runner took it (before the second one arrives)."""
    created, added, delta, completed = text_round(rid, first + rest)
    second = {**delta, "delta": rest, "sequence_number": 3}
    completed["sequence_number"] = 4
    return [created, mark, added, {**delta, "delta": first}, mark, second, completed]


async def test_the_first_token_is_timed_once_and_goes_out_at_once(monkeypatch, saved):
    marks: list = []
    asked: list[int] = []

    def mark() -> bool:
        """Once the loop had one step (as a new read from the socket gives it)."""
        asked.append(1)
        if len(asked) == 2:
            return False
        marks.append((timezone.now(), list(frames.texts)))
        return True

    events = [lambda: runner.started, *split_text_round("resp_1", "Hel", "lo", mark)]
    runner, _, frames = scripted(monkeypatch, events)
    await runner.run()
    final = final_of(saved)
    (before, _), (after, sent) = marks
    assert final.first_event_at <= before <= final.first_token_at <= after
    assert sent[-1] == "Hel"  # published before the next read, not at the clock's tick
    assert final.text == "Hello"


async def test_a_stop_between_a_rounds_calls_and_their_answers_ends_the_turn(monkeypatch, saved):
    held = [*tool_round(("calculator", {"expression": "1"})), HOLD]  # the stream is not closed
    runner, upstream, frames = scripted(monkeypatch, held)
    task = asyncio.create_task(runner.run())
    await frames.until(lambda: runner.state.status == "completed")
    assert runner.cancel()
    await asyncio.wait_for(task, 5)
    assert final_of(saved).status == "cancelled"  # the round ended, the turn had not
    assert len(upstream.bodies) == 1 and runner.tool_rounds == 0


async def test_a_stop_while_the_tools_run_ends_the_turn(monkeypatch, saved, settings):
    settings.CHAT_TOOLS = [*tool_kit.BUILTINS, "tests.tool_kit.HANG"]
    settings.CHAT_TOOL_TIMEOUT = 30.0
    runner, upstream, frames = scripted(monkeypatch, tool_round(("hang", {})))
    task = asyncio.create_task(runner.run())
    await stepped_until(lambda: runner._answering)
    assert runner.cancel()
    await asyncio.wait_for(task, 5)
    assert final_of(saved).status == "cancelled" and len(upstream.bodies) == 1
