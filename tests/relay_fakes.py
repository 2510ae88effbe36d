"""Small fakes for driving the relay's objects directly (chat/turns/registry.py, live.py,
bridge.py) without sockets or a channel layer: a tab that records what it is given, a bridge
that records what it would send, a turn that hands out a fixed snapshot, and a scripted
runner the registry runs in place of TurnRunner (`script_runners`)."""

import asyncio
from types import SimpleNamespace

from pydantic import BaseModel

from chat.turns import bridge as wire
from chat.turns import endpoint, frames
from chat.turns import registry as registry_module
from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.registry import TurnRegistry
from chat.turns.snapshot import TurnSnapshot


class Tab:
    """A watcher (chat/turns/live.py's Watcher) that records every call."""

    def __init__(self, user_id: int = 1, key: str = "s1", *, read_only: bool = False) -> None:
        self.user_id = user_id
        self.socket_key = key
        self.read_only = read_only
        self.floor = 5.0
        self.got: list[tuple[int, str]] = []
        self.snapshots: list[tuple[int, str]] = []
        self.rechecks = 0

    def deliver(self, seq: int, html: str) -> None:
        self.got.append((seq, html))

    def deliver_snapshot(self, seq: int, html: str) -> None:
        self.snapshots.append((seq, html))

    def recheck(self) -> None:
        self.rechecks += 1


class FakeBridge:
    """Records every outgoing call, in order, as (op, target, message)."""

    def __init__(self, channel: str | None = "proc.here") -> None:
        self.channel = channel
        self.calls: list[tuple[str, str, BaseModel | None]] = []
        self.stopped = False

    def send(self, channel: str, message: BaseModel) -> None:
        self.calls.append(("send", channel, message))

    def group_send(self, group: str, message: BaseModel) -> None:
        self.calls.append(("group_send", group, message))

    def join(self, group: str) -> None:
        self.calls.append(("join", group, None))

    def leave(self, group: str) -> None:
        self.calls.append(("leave", group, None))

    async def stop(self) -> None:
        self.stopped = True


class FakeRunner:
    def __init__(self, seq: int = 0) -> None:
        self.seq = seq
        self.cancels: list[bool] = []

    def cancel(self, *, interrupt: bool = False) -> bool:
        self.cancels.append(interrupt)
        return True


class FakeTurn:
    """A turn running in this process, as the registry's bridge side sees it."""

    def __init__(self, message_id: int | None = 21, seq: int = 7) -> None:
        self.message_id = message_id
        self.remote: set[str] = set()
        self.runner: FakeRunner | None = FakeRunner(seq)
        self.task = None

    def snapshot_html(self) -> tuple[int, str, str]:
        return self.runner.seq, "<writer/>", "<viewer/>"


def plan(conversation_id: int = 3, **fields) -> TurnPlan:
    return TurnPlan(
        user_id=1, conversation_id=conversation_id, text="Hi", model="gpt-x", input=[], **fields
    )


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
        self.started: StartedTurn | None = None
        ScriptedRunner.made.append(self)

    async def run(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.started = StartedTurn(3, 20, 21)
        for callback in ("on_shown", "on_started"):
            if callback in self.kwargs:
                self.kwargs[callback](self.started)
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


def script_runners(monkeypatch) -> list[ScriptedRunner]:
    """The registry runs ScriptedRunners (returned as they are made), with a fixed config,
    recorded end frames (ENDED), one process and no end hooks."""
    ScriptedRunner.made = []
    ENDED.clear()

    async def config():
        return "config"

    monkeypatch.setattr(registry_module, "TurnRunner", ScriptedRunner)
    monkeypatch.setattr(endpoint, "upstream_config", config)
    monkeypatch.setattr(
        frames,
        "ended_frames",
        lambda message, viewers=True: (
            ENDED.append(message) or ("<end/>", "<end-v/>" if viewers else None)
        ),
    )
    monkeypatch.setattr(wire, "crosses_processes", lambda: False)
    monkeypatch.setattr(registry_module, "turn_end_hooks", [])  # no automatic titles here
    return ScriptedRunner.made
