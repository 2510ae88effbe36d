"""The registry's turns, driven directly with a scripted runner (chat/turns/registry.py):
a turn starts as the registry's task and ends by showing how it ended everywhere (here and in
other processes, after its end hooks), and Stop reaches the runner of a turn here, or is asked
elsewhere only while the answer is stored live."""

import asyncio
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from chat.turns import bridge as wire
from chat.turns import frames
from chat.turns import registry as registry_module
from chat.turns.plan import StartedTurn, TurnRejected
from chat.turns.registry import TurnRegistry
from tests.history_factories import conversation, exchange
from tests.relay_fakes import (
    ENDED,
    FakeBridge,
    FakeRunner,
    FakeTurn,
    ScriptedRunner,
    Tab,
    plan,
    script_runners,
    start,
)


@pytest.fixture
def scripted(monkeypatch):
    return script_runners(monkeypatch)


async def test_a_stopping_server_and_a_busy_conversation_refuse_a_new_turn():
    relay = TurnRegistry()
    relay.turns[3] = FakeTurn()
    with pytest.raises(TurnRejected) as busy:
        await start(relay, plan(3))
    assert str(busy.value) == "A reply is still being written in this conversation."
    relay.accepting = False
    with pytest.raises(TurnRejected) as stopping:
        await relay.start(plan(4))
    assert str(stopping.value) == (
        "This server is restarting; please send your message again in a moment."
    )
    assert not relay._started


async def test_a_turn_runs_as_the_registrys_task_and_returns_once_its_rows_exist(scripted):
    relay = TurnRegistry()
    started = await start(relay, plan(3))
    assert started == StartedTurn(3, 20, 21)
    (runner,) = scripted
    turn = relay.turns[3]
    assert relay.is_live(3) and not relay.is_live(4) and relay._started
    assert runner.kwargs == {"plan": plan(3), "config": "config", "publisher": turn,
                             "on_shown": turn.on_shown, "on_started": turn.on_started}  # fmt: skip
    assert turn.task.get_name() == "turn-3" and turn.message_id == 21
    runner.release.set()
    await turn.task
    assert not relay.is_live(3)


async def test_a_turn_that_fails_before_its_rows_fails_its_start_and_is_forgotten(scripted, caplog):
    relay = TurnRegistry()
    original = ScriptedRunner.run

    async def failing(self):
        raise ValueError("upstream said no")

    ScriptedRunner.run = failing
    try:
        with pytest.raises(ValueError, match="upstream said no"):
            await start(relay, plan(3))
    finally:
        ScriptedRunner.run = original
    await asyncio.sleep(0)
    assert not relay.is_live(3)
    (failed,) = [r for r in caplog.records if r.name == "chat.turns.registry"]
    assert failed.getMessage() == "turn in conversation 3 failed" and failed.exc_info


async def test_a_turn_cancelled_before_its_rows_fails_its_start_as_cancelled():
    relay = TurnRegistry()
    turn = SimpleNamespace(conversation_id=3, message_id=None, runner=ScriptedRunner(),
                           started=asyncio.get_running_loop().create_future())  # fmt: skip
    turn.runner.fail_with = asyncio.CancelledError()
    relay.turns[3] = turn
    with pytest.raises(asyncio.CancelledError):
        await relay._run(turn)
    assert isinstance(turn.started.exception(), RuntimeError)
    assert str(turn.started.exception()) == "turn cancelled"
    assert not relay.is_live(3)


@pytest.mark.parametrize("with_viewer", [False, True])
async def test_one_process_renders_the_viewers_end_only_for_a_read_only_tab(scripted, with_viewer):
    relay = TurnRegistry()
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay.watchers[3] = {writer, viewer} if with_viewer else {writer}
    await start(relay, plan(3))
    turn = relay.turns[3]
    runner = scripted[0]
    runner.state.text, runner.state.status = "Hello.", "completed"
    writer.got.clear(), viewer.got.clear()
    sent = []
    send = turn.send_everywhere
    turn.send_everywhere = lambda seq, html, viewer_html=None: (
        sent.append(viewer_html) or send(seq, html, viewer_html)
    )
    runner.release.set()
    await turn.task
    announced = frames.announce_frame("Hello. — answer completed.")
    assert writer.got[0] == (5, "<end/>" + announced)
    if with_viewer:
        assert sent == ["<end-v/>" + announced]
        assert viewer.got == [(5, "<end-v/>" + announced)]
    else:
        assert sent == [None] and viewer.got == []


async def test_an_ended_turn_shows_its_end_everywhere_and_leaves_its_group(scripted):
    relay = TurnRegistry()
    relay.bridge = FakeBridge()
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay.watchers[3] = {writer, viewer}
    relay.user_watchers[1] = {writer}
    await start(relay, plan(3))
    turn = relay.turns[3]
    turn.remote.add("proc.there")
    runner = scripted[0]
    runner.state.text, runner.state.status = "Hello.", "completed"
    writer.got.clear(), viewer.got.clear(), relay.bridge.calls.clear()
    runner.release.set()
    await turn.task
    announced = frames.announce_frame("Hello. — answer completed.")
    assert writer.got == [(5, "<end/>" + announced), (0, frames.sidebar_dot_frame(3, False))]
    assert viewer.got == [(5, "<end-v/>" + announced)]
    frame = wire.Frame(conversation=3, seq=5, html="<end/>" + announced,
                       viewer_html="<end-v/>" + announced)  # fmt: skip
    assert relay.bridge.calls == [("send", "proc.there", frame), ("leave", "turn.3", None)]
    assert ENDED == [runner.stored]  # what the runner saved, not read again


async def test_a_turn_without_rows_or_runner_ends_silently():
    relay = TurnRegistry()
    relay.bridge = FakeBridge()
    await relay._announce_end(SimpleNamespace(message_id=None, runner=FakeRunner()))
    await relay._announce_end(SimpleNamespace(message_id=21, runner=None))
    assert relay.bridge.calls == []


async def test_the_end_hooks_run_after_the_turn_with_its_conversation_and_answer(scripted):
    seen = []

    async def hook(conversation_id: int, message_id: int) -> None:
        seen.append((conversation_id, message_id))

    registry_module.turn_end_hooks.append(hook)
    relay = TurnRegistry()
    await start(relay, plan(3))
    turn = relay.turns[3]
    scripted[0].release.set()
    await turn.task
    assert len(relay._hook_tasks) == 1  # kept while it runs
    await asyncio.gather(*relay._hook_tasks)
    await asyncio.sleep(0)
    assert seen == [(3, 21)] and relay._hook_tasks == set()
    relay._after_turn(SimpleNamespace(conversation_id=3, message_id=None))
    assert relay._hook_tasks == set()


async def test_a_turn_ended_elsewhere_is_shown_here_and_in_the_other_processes(scripted):
    relay = TurnRegistry()
    relay.bridge = FakeBridge()
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay.watchers[3] = {writer, viewer}
    message = SimpleNamespace(conversation_id=3)
    relay.announce_stored(message)
    assert ENDED == [message]
    assert writer.got == [(0, "<end/>")] and viewer.got == [(0, "<end-v/>")]
    ended = wire.Ended(conversation=3, html="<end/>", viewer_html="<end-v/>")
    assert relay.bridge.calls == [("group_send", "watch.3", ended)]
    relay.bridge = None
    relay.announce_stored(SimpleNamespace(conversation_id=3))
    assert len(writer.got) == 2


def test_stop_reaches_the_runner_of_a_turn_here_only():
    relay = TurnRegistry()
    assert relay.cancel(3) is False
    relay.turns[3] = FakeTurn()
    relay.turns[4] = FakeTurn()
    relay.turns[4].runner = None
    assert relay.cancel(4) is False
    assert relay.cancel(3) is True and relay.turns[3].runner.cancels == [False]


@pytest.mark.django_db(transaction=True)
async def test_stop_for_a_turn_elsewhere_is_asked_only_while_its_answer_is_stored_live(user):
    quiet, busy = await sync_to_async(lambda: (conversation(user), conversation(user)))()
    await sync_to_async(exchange)(quiet, "q", "a", status="completed")
    await sync_to_async(exchange)(busy, "q", "", status="streaming")
    relay = TurnRegistry()
    relay.bridge = FakeBridge()
    assert await relay.cancel_anywhere(quiet.pk) is False and relay.bridge.calls == []
    assert await relay.cancel_anywhere(busy.pk) is True
    assert relay.bridge.calls == [
        ("group_send", f"turn.{busy.pk}", wire.Cancel(conversation=busy.pk))
    ]
    await sync_to_async(exchange)(quiet, "q", "", status="queued")
    assert await relay.cancel_anywhere(quiet.pk) is True
    relay.bridge = None  # one process alone: nobody else to ask
    assert await relay.cancel_anywhere(busy.pk) is False
    relay.turns[busy.pk] = FakeTurn()
    assert await relay.cancel_anywhere(busy.pk) is True
    assert relay.turns[busy.pk].runner.cancels == [False]


@pytest.mark.django_db(transaction=True)
async def test_an_ended_turn_not_saved_by_its_runner_shows_the_row_as_stored(user, monkeypatch):
    convo = await sync_to_async(conversation)(user)
    _, answer = await sync_to_async(exchange)(convo, "q", "stored text", status="failed")
    shown = []
    monkeypatch.setattr(
        frames,
        "ended_frames",
        lambda message, viewers=True: shown.append(message) or ("<e/>", "<ev/>"),
    )
    relay = TurnRegistry()
    runner = ScriptedRunner()
    runner.stored = None
    runner.started = StartedTurn(convo.pk, answer.parent_id, answer.pk)  # written, not stored
    turn = SimpleNamespace(message_id=answer.pk, runner=runner, conversation_id=convo.pk,
                           plan=plan(convo.pk), remote=set(),
                           _announcement=lambda state, final: "",
                           send_everywhere=lambda seq, html, viewer_html: None)  # fmt: skip
    await relay._announce_end(turn)
    assert [(m.pk, m.text, m.status) for m in shown] == [(answer.pk, "stored text", "failed")]
