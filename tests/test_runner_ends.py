"""TurnRunner's first write and its end, driven directly with stand-ins for the database and
the upstream: what the start hands on, what a failed start stops, and what the end waits
for, cancels upstream, logs and saves."""

import asyncio
import logging

import pytest

from chat import images
from chat.turns import runner as runner_module
from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.runner import TurnRunner
from chat.upstream.client import UpstreamConfig

STARTED = StartedTurn(4, 5, 6)
CONFIG = UpstreamConfig(base_url="http://upstream.test/v1", api_key="hunter2-hunter2")
INPUT = [{"role": "user", "content": "abc"}, {"role": "assistant", "content": "de"}, {"x": 1}]


class Frames:
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def publish(self, seq, state, changes):
        self.seqs.append(seq)


def runner_for(frames=None, **kwargs) -> TurnRunner:
    plan = TurnPlan(user_id=1, conversation_id=None, text="hi", model="planned-model",
                    input=INPUT)  # fmt: skip
    return TurnRunner(plan=plan, config=CONFIG, publisher=frames, **kwargs)


@pytest.fixture
def saved(monkeypatch) -> list[dict]:
    """store_final and the image store stand-ins; what the final save was given."""
    calls: list[dict] = []

    async def store_final(**kwargs):
        calls.append({**kwargs, "snapshot": kwargs["snapshot"]()})
        return "the stored row"

    async def no_images(state, **kwargs):
        pass

    monkeypatch.setattr(runner_module, "store_final", store_final)
    monkeypatch.setattr(images, "store_turn_images", no_images)
    return calls


@pytest.fixture
def cancels(monkeypatch) -> list[str]:
    asked: list[str] = []

    async def cancel_response(response_id, *, config):
        assert config is CONFIG
        asked.append(response_id)

    monkeypatch.setattr(runner_module, "cancel_response", cancel_response)
    return asked


async def test_the_end_saves_the_snapshot_with_the_turn_facts(saved, cancels, caplog):
    caplog.set_level(logging.INFO, logger="chat.turns.runner")
    frames = Frames()
    runner = runner_for(frames)
    runner.started = runner.shown = STARTED
    runner.state.guard.warn("test", "waiting for a frame")
    runner.state.cancel()
    await runner._finish()
    assert frames.seqs == [1]  # what waited went out before the save
    [call] = saved
    assert call["message_id"] == 6 and call["lease_owner"] == runner.lease_owner
    assert call["input_chars"] == 5  # the characters of the input's contents
    assert call["requested_model"] == "planned-model"
    assert call["snapshot"].status == "cancelled"
    assert runner.stored == "the stored row"
    assert cancels == []  # not a background response
    assert [r.getMessage() for r in caplog.records] == [
        "turn ended conversation=4 message=6 status=cancelled model=planned-model "
        "response=None events=0 frames=1 error=-"
    ]


async def test_the_end_logs_the_servers_model_and_the_error_redacted(saved, cancels, caplog):
    caplog.set_level(logging.INFO, logger="chat.turns.runner")
    runner = runner_for()
    runner.started = runner.shown = STARTED
    runner.state.model, runner.state.response_id = "served-model", "resp_9"
    runner.state.error_detail = "bad key hunter2-hunter2 given"
    runner.state.fail("upstream_error", "The model server failed.")
    await runner._finish()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "turn ended conversation=4 message=6 status=failed model=served-model "
                 "response=resp_9 events=0 frames=1 error=upstream_error"),
        ("WARNING", "upstream error message=6: bad key [redacted] given"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "background", "response_id", "cancelled"),
    [
        ("cancelled", True, "resp_bg", ["resp_bg"]),
        ("cancelled", False, "resp_bg", []),
        ("cancelled", True, None, []),
        ("interrupted", True, "resp_bg", []),  # a shutdown: another process goes on with it
    ],
)
async def test_a_stopped_background_response_is_cancelled_upstream(
    saved, cancels, status, background, response_id, cancelled
):
    runner = runner_for()
    runner.started = runner.shown = STARTED
    runner.state.background, runner.state.response_id = background, response_id
    runner.state.set_status(status)
    await runner._finish()
    assert cancels == cancelled and len(saved) == 1


async def test_the_end_waits_for_a_running_checkpoint(saved, cancels):
    runner = runner_for()
    runner.started = runner.shown = STARTED
    order: list[str] = []

    async def checkpoint() -> None:
        await asyncio.sleep(0)
        order.append("checkpoint")
        raise RuntimeError("its failure is its own")

    runner._checkpoint = asyncio.create_task(checkpoint())
    real = runner_module.store_final

    async def store_final(**kwargs):
        order.append("final")
        return await real(**kwargs)

    runner_module.store_final = store_final
    try:
        await runner._finish()
    finally:
        runner_module.store_final = real
    assert order == ["checkpoint", "final"]


async def test_the_first_rows_are_handed_on_with_what_waited_for_them(monkeypatch):
    monkeypatch.setattr(runner_module, "start_turn", lambda **kw: STARTED)
    frames, seen = Frames(), []
    runner = runner_for(frames, on_started=seen.append)
    runner.state.guard.warn("test", "arrived before the rows")
    runner._begin()
    write = runner._write
    assert write is not None and await write == STARTED
    await asyncio.sleep(0)  # the done callback
    assert runner.started == STARTED and seen == [STARTED] and frames.seqs == [1]
    assert runner._write_failed is None


async def test_the_first_rows_are_written_with_the_plan_and_the_lease(monkeypatch):
    given: list[dict] = []
    monkeypatch.setattr(runner_module, "start_turn", lambda **kw: given.append(kw) or STARTED)
    runner = runner_for()
    runner._begin()
    await runner._write
    assert given == [{"plan": runner.plan, "lease_owner": runner.lease_owner}]


async def test_a_failed_first_write_stops_the_stream(monkeypatch):
    def refuse(**kwargs):
        raise RuntimeError("no database")

    monkeypatch.setattr(runner_module, "start_turn", refuse)
    runner = runner_for()
    runner._task = streaming = asyncio.create_task(asyncio.Event().wait())
    runner._begin()
    write = runner._write
    with pytest.raises(RuntimeError):
        await write
    await asyncio.sleep(0)
    assert isinstance(runner._write_failed, RuntimeError) and runner.started is None
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(streaming, 5)


async def test_a_failed_first_write_while_the_end_is_stored_stops_nothing(monkeypatch):
    def refuse(**kwargs):
        raise RuntimeError("no database")

    monkeypatch.setattr(runner_module, "start_turn", refuse)
    runner = runner_for()
    runner._task = ending = asyncio.create_task(asyncio.Event().wait())
    runner._ending = True
    runner._begin()
    write = runner._write
    with pytest.raises(RuntimeError):
        await write
    await asyncio.sleep(0)
    assert isinstance(runner._write_failed, RuntimeError) and not ending.done()
    ending.cancel()


async def test_a_cancelled_first_write_hands_nothing_on(monkeypatch):
    frames = Frames()
    runner = runner_for(frames, on_started=lambda s: pytest.fail("no rows were written"))
    runner.state.guard.warn("test", "waiting")
    write = asyncio.get_running_loop().create_future()
    write.cancel()
    runner._task = streaming = asyncio.create_task(asyncio.Event().wait())
    runner._on_write_done(write)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert runner.started is None and runner._write_failed is None
    assert frames.seqs == [] and not streaming.done()
    streaming.cancel()
