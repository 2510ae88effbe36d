"""The process's services, driven directly (chat/turns/lifecycle.py): they start once per
registry, the ASGI lifespan starts them and saves running turns at shutdown, the sweeper ends
dead turns and resumes the ones it claimed whatever fails, and a signal drains the turns
before the server's own handler runs."""

import asyncio
import signal
import threading

import pytest

from chat.turns import bridge as wire
from chat.turns import lifecycle
from chat.turns.registry import TurnRegistry
from tests.raw_http import until


class Registry:
    """What the lifecycle needs of the registry, recording what it is asked."""

    def __init__(self, accepting: bool = True) -> None:
        self.accepting = accepting
        self.turns = {}
        self.calls: list[tuple] = []
        self.kept: list[asyncio.Task] = []

    async def ensure_started(self) -> None:
        self.calls.append(("ensure_started",))

    def keep(self, task: asyncio.Task) -> None:
        self.kept.append(task)

    async def shutdown(self, drain: float) -> None:
        self.calls.append(("shutdown", drain))
        self.accepting = False

    def announce_stored(self, message) -> None:
        self.calls.append(("announce", message))

    async def resume(self, message, *, lease_owner: str) -> None:
        self.calls.append(("resume", message, lease_owner))


async def test_services_start_once_per_registry(monkeypatch):
    relay = TurnRegistry()
    monkeypatch.setattr(lifecycle, "registry", lambda: relay)
    monkeypatch.setattr(wire, "crosses_processes", lambda: False)
    swept, installed = [], []

    async def sweep(registry):
        swept.append(registry)

    monkeypatch.setattr(lifecycle, "sweep_forever", sweep)
    monkeypatch.setattr(lifecycle, "install_signal_handlers", installed.append)
    await lifecycle.start_services()
    await lifecycle.start_services()
    await asyncio.sleep(0)
    assert relay._started and swept == [relay] and installed == [relay]
    assert [t.get_name() for t in relay._background] == ["sweeper"]


def lifespan_messages(*types: str):
    queue = [{"type": t} for t in types]

    async def receive():
        return queue.pop(0)

    return receive


async def test_the_lifespan_starts_the_services_then_saves_the_turns_at_shutdown(
    monkeypatch, settings
):
    relay, started, sent = Registry(), [], []
    settings.SHUTDOWN_DRAIN_SECONDS = 2.5

    async def start():
        started.append(True)

    async def send(message):
        sent.append(message)

    monkeypatch.setattr(lifecycle, "start_services", start)
    monkeypatch.setattr(lifecycle, "registry", lambda: relay)
    await lifecycle.lifespan({}, lifespan_messages("lifespan.startup", "lifespan.shutdown"), send)
    assert started == [True] and relay.calls == [("shutdown", 2.5)]
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


async def test_the_lifespan_does_not_drain_twice_after_a_signal(monkeypatch):
    relay, sent = Registry(accepting=False), []

    async def send(message):
        sent.append(message)

    monkeypatch.setattr(lifecycle, "registry", lambda: relay)
    await lifecycle.lifespan({}, lifespan_messages("lifespan.shutdown"), send)
    assert relay.calls == [] and sent == [{"type": "lifespan.shutdown.complete"}]


def logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chat.turns.lifecycle"]


async def test_a_failed_start_is_reported_to_the_server_and_ends_the_lifespan(monkeypatch, caplog):
    sent = []

    async def start():
        raise RuntimeError("redis refused")

    async def send(message):
        sent.append(message)

    monkeypatch.setattr(lifecycle, "start_services", start)
    await lifecycle.lifespan({}, lifespan_messages("lifespan.startup", "never.read"), send)
    assert sent == [{"type": "lifespan.startup.failed", "message": "redis refused"}]
    assert logged(caplog) == ["process services failed to start"]


async def test_the_sweeper_announces_ended_turns_and_resumes_claimed_ones_as_their_owner(
    monkeypatch, settings, caplog
):
    settings.SWEEP_INTERVAL = 0.01
    relay, claims = Registry(), []

    def sweep_expired(*, claim_as):
        claims.append(claim_as)
        if len(claims) == 1:
            raise RuntimeError("database locked")  # logged; the next sweep still runs
        relay.accepting = False
        return (["ended-1"], ["claimed-1"]) if len(claims) == 2 else ([], [])

    monkeypatch.setattr(lifecycle, "sweep_expired", sweep_expired)
    task = asyncio.create_task(lifecycle.sweep_forever(relay))
    try:
        await until(lambda: len(claims) >= 3)
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    owner = claims[1]
    assert owner.startswith(f"{lifecycle.PROCESS_ID}-resume-") and len(owner.split("-")[-1]) == 8
    assert claims[0] != owner and claims[2] is None  # a fresh owner a sweep; none when stopping
    assert relay.calls == [("announce", "ended-1"), ("resume", "claimed-1", owner)]
    assert logged(caplog) == ["sweep failed"]


async def test_the_sweeper_waits_its_interval_between_sweeps(monkeypatch, settings):
    settings.SWEEP_INTERVAL = 0.3
    claims = []
    monkeypatch.setattr(
        lifecycle, "sweep_expired", lambda *, claim_as: claims.append(1) or ([], [])
    )
    task = asyncio.create_task(lifecycle.sweep_forever(Registry()))
    await asyncio.sleep(0.15)
    task.cancel()
    assert claims == [1]


@pytest.fixture
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


async def test_signal_handlers_are_installed_only_when_asked_and_only_from_the_main_thread(
    settings, restore_signals
):
    before = signal.getsignal(signal.SIGTERM)
    settings.CHAT_SIGNAL_HANDLERS = False
    lifecycle.install_signal_handlers(Registry())
    assert signal.getsignal(signal.SIGTERM) is before
    settings.CHAT_SIGNAL_HANDLERS = True
    loop = asyncio.get_running_loop()
    thread = threading.Thread(target=lambda: asyncio.run(_install_off_main()))
    thread.start()
    thread.join()
    assert signal.getsignal(signal.SIGTERM) is before
    assert loop is asyncio.get_running_loop()


async def _install_off_main() -> None:
    lifecycle.install_signal_handlers(Registry())  # must not raise: the server keeps its own


async def test_a_signal_ignores_a_second_one_and_drains_through_the_registry(
    settings, restore_signals, monkeypatch
):
    settings.CHAT_SIGNAL_HANDLERS = True
    relay, graceful = Registry(), []

    async def record(registry, signum, previous):
        graceful.append((registry, signum, previous))

    monkeypatch.setattr(lifecycle, "_graceful", record)
    previous_term = signal.getsignal(signal.SIGTERM)
    previous_int = signal.getsignal(signal.SIGINT)
    lifecycle.install_signal_handlers(relay)
    term_handler = signal.getsignal(signal.SIGTERM)
    assert callable(term_handler) and signal.getsignal(signal.SIGINT) is not previous_int
    term_handler(signal.SIGTERM, None)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    await until(lambda: graceful)
    assert graceful == [(relay, signal.SIGTERM, previous_term)]
    signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
    await until(lambda: len(graceful) == 2)
    assert graceful[1] == (relay, signal.SIGINT, previous_int)


@pytest.mark.parametrize(
    ("previous", "restored"),
    [
        (signal.SIG_IGN, signal.SIG_IGN),
        (signal.SIG_DFL, signal.SIG_DFL),
        (None, signal.SIG_DFL),
        (print, print),
    ],  # fmt: skip
)
async def test_after_draining_the_servers_own_handler_gets_the_signal_again(
    settings, monkeypatch, caplog, previous, restored
):
    settings.SHUTDOWN_DRAIN_SECONDS = 1.5
    relay, installed, killed = Registry(), [], []
    relay.turns = {3: "a turn", 4: "another"}
    monkeypatch.setattr(lifecycle.signal, "signal", lambda s, h: installed.append((s, h)))
    monkeypatch.setattr(lifecycle.os, "kill", lambda pid, s: killed.append((pid, s)))
    await lifecycle._graceful(relay, signal.SIGTERM, previous)
    assert relay.calls == [("shutdown", 1.5)]
    assert installed == [(signal.SIGTERM, restored)]
    assert killed == [(lifecycle.os.getpid(), signal.SIGTERM)]
    assert logged(caplog) == [f"signal {signal.SIGTERM}: finishing 2 running turn(s) before exit"]


async def test_the_signal_is_passed_on_even_when_draining_fails(monkeypatch):
    killed = []

    class Failing(Registry):
        async def shutdown(self, drain: float) -> None:
            raise RuntimeError("save failed")

    monkeypatch.setattr(lifecycle.signal, "signal", lambda s, h: None)
    monkeypatch.setattr(lifecycle.os, "kill", lambda pid, s: killed.append(s))
    with pytest.raises(RuntimeError):
        await lifecycle._graceful(Failing(), signal.SIGINT, signal.SIG_DFL)
    assert killed == [signal.SIGINT]
