"""The registry's shutdown, its process services and resumed turns, driven directly with a
scripted runner (chat/turns/registry.py): shutdown drains, then interrupts what is left; the
process joins the channel layer once and has one registry; a resumed turn shows its
snapshot first and runs as the registry's task."""

import asyncio
from types import SimpleNamespace

import pytest

from chat import revocation
from chat.turns import bridge as wire
from chat.turns import registry as registry_module
from chat.turns.plan import StartedTurn
from chat.turns.registry import TurnRegistry
from chat.turns.resume import Resume
from tests.relay_fakes import (
    FakeBridge,
    FakeTurn,
    Tab,
    plan,
    script_runners,
)


@pytest.fixture
def scripted(monkeypatch):
    return script_runners(monkeypatch)


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
