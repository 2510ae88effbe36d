"""The registry's turns, driven directly with a scripted runner (chat/turns/registry.py):
a turn starts as the registry's task and ends by showing how it ended everywhere, a resumed
one shows its snapshot first, Stop and shutdown reach the runner, and the process joins the
channel layer once."""

import asyncio
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from chat import revocation
from chat.turns import bridge as wire
from chat.turns import endpoint, frames
from chat.turns import registry as registry_module
from chat.turns.plan import StartedTurn, TurnRejected
from chat.turns.registry import TurnRegistry
from chat.turns.resume import Resume
from chat.turns.snapshot import TurnSnapshot
from tests.history_factories import conversation, exchange
from tests.relay_fakes import FakeBridge, FakeRunner, FakeTurn, Tab, plan


class ScriptedRunner:
    """Stands in for TurnRunner: its run() says the rows are written, then waits or fails."""

    made: list["ScriptedRunner"] = []

    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs
        self.seq = 4
        self.stored = object()
        self.state = SimpleNamespace(text="", status="queued", items=[])
        self.release = asyncio.Event()
        self.fail_with: BaseException | None = None
        self.cancels: list[bool] = []
        ScriptedRunner.made.append(self)

    async def run(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if "on_started" in self.kwargs:
            self.kwargs["on_started"](StartedTurn(3, 20, 21))
        await self.release.wait()

    def flush_pending(self) -> None:
        pass

    def snapshot(self) -> TurnSnapshot:
        return TurnSnapshot(status="streaming", text="", items=[])

    def cancel(self, *, interrupt: bool = False) -> bool:
        self.cancels.append(interrupt)
        self.release.set()
        return True


ENDED: list = []  # the messages whose end frames were rendered


async def start(relay: TurnRegistry, turn_plan) -> StartedTurn:
    """A start that never comes back fails here, not at pytest's two-minute timeout."""
    return await asyncio.wait_for(relay.start(turn_plan), 5)


@pytest.fixture
def scripted(monkeypatch):
    ScriptedRunner.made = []
    ENDED.clear()

    async def config():
        return "config"

    monkeypatch.setattr(registry_module, "TurnRunner", ScriptedRunner)
    monkeypatch.setattr(endpoint, "upstream_config", config)
    monkeypatch.setattr(
        frames, "ended_frames", lambda message: ENDED.append(message) or ("<end/>", "<end-v/>")
    )
    monkeypatch.setattr(wire, "crosses_processes", lambda: False)
    monkeypatch.setattr(registry_module, "turn_end_hooks", [])  # no automatic titles here
    return ScriptedRunner.made


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
                             "on_started": turn.on_started}  # fmt: skip
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


async def test_shutdown_drains_then_interrupts_what_is_left_and_stops_the_services(monkeypatch):
    closed = []

    async def close():
        closed.append(True)

    monkeypatch.setattr(registry_module, "close_shared_client", close)
    relay = TurnRegistry()
    relay.bridge = FakeBridge()
    quick, slow = FakeTurn(), FakeTurn()
    slow_stop = asyncio.Event()
    slow.runner.cancel = lambda *, interrupt=False: (
        slow.runner.cancels.append(interrupt), slow_stop.set())  # fmt: skip
    quick.task = asyncio.create_task(asyncio.sleep(0.01))
    slow.task = asyncio.create_task(slow_stop.wait())
    relay.turns = {3: quick, 4: slow}
    quick.task.add_done_callback(lambda _: relay.turns.pop(3))
    background = asyncio.create_task(asyncio.sleep(60))
    relay.keep(background)
    await asyncio.wait_for(relay.shutdown(drain=0.2, grace=2), 5)
    assert relay.accepting is False
    assert quick.runner.cancels == [] and slow.runner.cancels == [True]
    assert slow.task.done()
    await asyncio.sleep(0)
    assert background.cancelled() and relay.bridge.stopped and closed == [True]


async def test_shutdown_waits_no_longer_than_the_drain_then_the_grace():
    relay = TurnRegistry()
    stuck = FakeTurn()
    stuck.task = asyncio.create_task(asyncio.sleep(60))
    relay.turns = {3: stuck}
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(relay.shutdown(drain=0.1, grace=0.1), 3)
    assert loop.time() - began < 1 and stuck.runner.cancels == [True]
    stuck.task.cancel()


async def test_shutdown_gives_interrupted_turns_five_seconds_to_save_by_default(monkeypatch):
    waits = []
    real_wait = asyncio.wait

    async def wait(tasks, **options):  # what shutdown asks for, then a quick real wait
        waits.append(options["timeout"])
        return await real_wait(tasks, timeout=0.01)

    relay = TurnRegistry()
    stuck = FakeTurn()
    stuck.task = asyncio.create_task(asyncio.sleep(60))
    relay.turns = {3: stuck}
    monkeypatch.setattr(registry_module.asyncio, "wait", wait)
    await relay.shutdown(drain=1.5)
    monkeypatch.undo()
    stuck.task.cancel()
    assert waits == [1.5, 5.0]


def test_a_registry_never_started_sends_access_notices_through_the_channel_layer_only(
    monkeypatch,
):
    """A process with no sockets (manage.py) has a registry with no loop: revocation must
    not take it for a serving one (chat/revocation.py)."""
    monkeypatch.setattr(registry_module, "_registry", TurnRegistry())
    monkeypatch.setattr(wire, "crosses_processes", lambda: False)
    assert registry_module.registry().loop is None
    revocation._notify([1], [2])  # nothing to tell, and no error
    assert registry_module.registry().access_epoch == 0


async def test_the_process_joins_the_channel_layer_once_and_only_when_it_crosses(monkeypatch):
    made = []

    class Joined:
        def __init__(self, handler) -> None:
            self.handler = handler
            self.starts = 0
            made.append(self)

        async def start(self) -> None:
            self.starts += 1

    monkeypatch.setattr(wire, "Bridge", Joined)
    monkeypatch.setattr(wire, "crosses_processes", lambda: False)
    alone = TurnRegistry()
    await alone.ensure_started()
    assert alone.bridge is None and alone.loop is asyncio.get_running_loop()
    monkeypatch.setattr(wire, "crosses_processes", lambda: True)
    relay = TurnRegistry()
    await relay.ensure_started()
    await relay.ensure_started()
    assert [b.starts for b in made] == [1] and relay.bridge is made[0]
    assert made[0].handler == relay.on_bridge_message


def test_the_process_has_one_registry(monkeypatch):
    monkeypatch.setattr(registry_module, "_registry", None)
    first = registry_module.registry()
    assert isinstance(first, TurnRegistry) and registry_module.registry() is first


def stored(**fields) -> SimpleNamespace:
    base = {"conversation_id": 3, "pk": 21, "items": [{"type": "message"}], "response_id": "r1",
            "last_seq": 12, "model": "gpt-m", "first_event_at": 1, "first_token_at": 2,
            "rounds": [{"start": 0}]}  # fmt: skip
    return SimpleNamespace(**(base | fields))


async def test_a_resumed_turn_shows_its_snapshot_then_runs_as_the_registrys_task(scripted):
    relay = TurnRegistry()
    relay.bridge = FakeBridge()
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay.watchers[3] = {writer, viewer}
    await relay.resume(stored(), lease_owner="p-resume-1", plan=plan(3), then_input=[{"x": 1}])
    turn = relay.turns[3]
    (runner,) = scripted
    assert runner.kwargs["plan"] == plan(3) and runner.kwargs["config"] == "config"
    assert runner.kwargs["publisher"] is turn and "on_started" not in runner.kwargs
    assert runner.kwargs["resume"] == Resume(
        message_id=21, conversation_id=3, lease_owner="p-resume-1", response_id="r1",
        last_seq=12, items=[{"type": "message"}], model="gpt-m", first_event_at=1,
        first_token_at=2, rounds=[{"start": 0}], then_input=[{"x": 1}],
    )  # fmt: skip
    assert turn.message_id == 21 and turn.rendered_items == 1
    seq, html, viewer_html = turn.snapshot_html()
    assert writer.snapshots == [(seq, html)] and viewer.snapshots == [(seq, viewer_html)]
    assert relay.bridge.calls == [
        ("join", "turn.3", None),
        ("group_send", "watch.3", wire.TurnStarted(conversation=3, html=html,
                                                   viewer_html=viewer_html)),
    ]  # fmt: skip
    assert turn.started.result() == StartedTurn(3, 0, 21)
    assert turn.task.get_name() == "turn-3-resumed"
    runner.release.set()
    await turn.task
    assert not relay.is_live(3)


async def test_a_resumed_turn_with_no_checkpoint_renders_its_items_from_the_first(scripted):
    relay = TurnRegistry()
    await relay.resume(stored(last_seq=None, items=None, rounds=None), lease_owner="o",
                       plan=plan(3))  # fmt: skip
    turn = relay.turns[3]
    assert turn.rendered_items == 0
    resume = scripted[0].kwargs["resume"]
    assert resume.items == [] and resume.rounds == [] and resume.then_input is None
    await relay.resume(stored(last_seq=3), lease_owner="o", plan=plan(3))
    assert relay.turns[3] is turn and len(scripted) == 1  # already live: left alone
    scripted[0].release.set()
    await turn.task


async def test_a_resumed_turn_keeps_its_rendered_items_when_a_checkpoint_or_input_exists(
    scripted,
):
    relay = TurnRegistry()
    await relay.resume(stored(last_seq=None, items=[{}, {}]), lease_owner="o", plan=plan(3),
                       then_input=[])  # fmt: skip
    assert relay.turns[3].rendered_items == 2
    await relay.resume(stored(conversation_id=4, items=[{}, {}]), lease_owner="o", plan=plan(4))
    assert relay.turns[4].rendered_items == 2
    for runner in scripted:
        runner.release.set()
    await asyncio.gather(relay.turns[3].task, relay.turns[4].task)


async def test_a_resumed_turn_reads_its_plan_and_yields_to_one_started_meanwhile(
    scripted, monkeypatch
):
    relay = TurnRegistry()
    read = []

    def resume_plan(*, message):
        read.append(message.pk)
        return plan(message.conversation_id)

    monkeypatch.setattr(registry_module, "resume_plan", resume_plan)
    await relay.resume(stored(), lease_owner="o")
    assert read == [21] and scripted[0].kwargs["plan"] == plan(3)
    other = FakeTurn()

    def taken_meanwhile(*, message):
        relay.turns[message.conversation_id] = other
        return plan(message.conversation_id)

    monkeypatch.setattr(registry_module, "resume_plan", taken_meanwhile)
    await relay.resume(stored(conversation_id=4), lease_owner="o")
    assert relay.turns[4] is other and len(scripted) == 1
    scripted[0].release.set()
    await relay.turns[3].task


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
        frames, "ended_frames", lambda message: shown.append(message) or ("<e/>", "<ev/>")
    )
    relay = TurnRegistry()
    runner = ScriptedRunner()
    runner.stored = None
    turn = SimpleNamespace(message_id=answer.pk, runner=runner, conversation_id=convo.pk,
                           plan=plan(convo.pk), remote=set(),
                           _announcement=lambda state, final: "",
                           send_everywhere=lambda seq, html, viewer_html: None)  # fmt: skip
    await relay._announce_end(turn)
    assert [(m.pk, m.text, m.status) for m in shown] == [(answer.pk, "stored text", "failed")]
