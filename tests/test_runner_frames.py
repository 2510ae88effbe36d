"""TurnRunner's frame and checkpoint timing, driven directly with a stand-in flush clock (no
database, no upstream): when a change goes out at once, when it waits for the clock, and
when a checkpoint (or a lease renewal) is taken, and what a failed checkpoint or image
store costs."""

import asyncio

import pytest

from chat import images
from chat.turns import runner as runner_module
from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.runner import TurnRunner
from tests.recorded_sleeps import REAL_SLEEP, record_sleeps

PLAN = TurnPlan(user_id=1, conversation_id=None, text="hi", model="m", input=[])


class Clock:
    """The flush clock's interface (chat/turns/ticker.py), recording what waits in it."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.waiting: list[float] = []
        self.flushes: list = []

        self.soon_slot: dict = {}  # flushes due once the events of the same read are applied

    def at(self, when, flush):
        self.waiting.append(when)
        self.flushes.append(flush)
        return {flush: None}

    def soon(self, flush):
        self.soon_slot[flush] = None
        return self.soon_slot

    def fire_soon(self) -> None:
        for flush in list(self.soon_slot):
            flush()
        self.soon_slot.clear()


class Frames:
    def __init__(self, fail: bool = False) -> None:
        self.seqs: list[int] = []
        self.sent: list = []  # (state, changes) of each frame
        self.fail = fail

    def publish(self, seq, state, changes):
        self.seqs.append(seq)
        self.sent.append((state, changes))
        if self.fail:
            raise RuntimeError("socket gone")


def runner_for(frames: Frames, window: float = 0.5, started: bool = True):
    runner = TurnRunner(plan=PLAN, config=None, publisher=frames)  # type: ignore[arg-type]
    runner.started = runner.shown = StartedTurn(1, 2, 3) if started else None
    runner._checkpoint = object()  # type: ignore[assignment]  # none unless a test asks
    runner._tick = clock = Clock(window)  # type: ignore[assignment]
    return runner, clock


def change(runner: TurnRunner, what: str = "a change to publish") -> None:
    runner.state.guard.warn("test", what)


def waiting_for_the_window(frames: Frames):
    """A runner whose last frame went at 1.0 s, with a change made at 1.2 s: due at 1.5 s."""
    runner, clock = runner_for(frames)
    runner._last_flush = 1.0
    change(runner)
    runner._after_event(1.2, structural=False)
    return runner, clock


async def test_a_fresh_turns_first_change_goes_out_at_once_and_is_checkpointed():
    frames = Frames()
    runner = TurnRunner(plan=PLAN, config=None, publisher=frames)  # type: ignore[arg-type]
    runner.started = runner.shown = StartedTurn(1, 2, 3)
    runner._tick = clock = Clock(0.5)  # type: ignore[assignment]
    checkpoints: list[str] = []

    async def save() -> None:
        checkpoints.append("saved")

    runner._save_checkpoint = save  # type: ignore[method-assign]
    change(runner)
    runner._after_event(asyncio.get_running_loop().time(), structural=False)
    assert clock.waiting == [] and list(clock.soon_slot) == [runner._flush_cb]
    clock.fire_soon()
    assert frames.seqs == [1]  # nothing was sent before: no window to wait out
    await runner._checkpoint
    assert checkpoints == ["saved"]


async def test_a_change_due_exactly_at_the_window_end_goes_out_at_once():
    frames = Frames()
    runner, clock = runner_for(frames)
    runner._last_flush = 1.0
    change(runner)
    runner._after_event(1.5, structural=False)
    assert frames.seqs == [] and clock.waiting == [] and runner._flush_slot is clock.soon_slot
    clock.fire_soon()
    assert frames.seqs == [1] and runner._flush_slot is None


async def test_a_change_within_the_window_waits_for_the_clock_once():
    frames = Frames()
    runner, clock = waiting_for_the_window(frames)
    change(runner, "another")
    runner._after_event(1.3, structural=False)
    assert frames.seqs == [] and clock.waiting == [1.5]  # one wait, due a window after
    clock.flushes[0]()  # the clock fires
    assert frames.seqs == [1] and runner._flush_slot is None
    assert not runner.state.take_changes()  # both changes went out in that frame
    state, changes = frames.sent[0]
    assert state is runner.state and changes.warnings is True


async def test_a_structural_change_does_not_wait():
    frames = Frames()
    runner, clock = runner_for(frames)
    runner._last_flush = 1.0
    change(runner)
    runner._after_event(1.1, structural=True)
    change(runner, "read with it")
    runner._after_event(1.1, structural=True)
    assert frames.seqs == [] and clock.waiting == []
    clock.fire_soon()
    assert frames.seqs == [1]  # one frame for the events of one read


async def test_a_change_waiting_for_the_window_goes_at_once_with_a_structural_one():
    frames = Frames()
    runner, clock = waiting_for_the_window(frames)
    waiting = runner._flush_slot
    assert waiting == {runner._flush_cb: None} and clock.waiting == [1.5]
    change(runner, "structural")
    runner._after_event(1.25, structural=True)
    assert waiting == {} and runner._flush_slot is clock.soon_slot  # left its window slot
    clock.fire_soon()
    assert frames.seqs == [1] and runner._flush_slot is None


async def test_a_frame_sent_early_leaves_its_clock_slot():
    frames = Frames()
    runner, _ = waiting_for_the_window(frames)
    slot = runner._flush_slot
    runner.flush_pending()  # a snapshot is about to be taken
    assert frames.seqs == [1] and slot == {} and runner._flush_slot is None


async def test_flush_pending_without_a_wait_publishes_nothing():
    frames = Frames()
    runner, _ = runner_for(frames)
    change(runner)
    runner.flush_pending()
    assert frames.seqs == [] and runner.state.take_changes()  # still waiting for its frame


async def test_frames_wait_until_the_rows_can_be_named_and_number_from_one():
    frames = Frames()
    runner, _ = runner_for(frames, started=False)
    change(runner)
    runner._flush()
    assert frames.seqs == [] and runner.seq == 0
    runner.shown = StartedTurn(1, 2, 3)
    runner._flush()
    runner._flush()  # nothing new: no empty frame
    change(runner, "more")
    runner._flush()
    assert frames.seqs == [1, 2] and runner.seq == 2
    assert runner._last_flush == pytest.approx(asyncio.get_running_loop().time(), abs=1)


async def test_a_publisher_that_fails_does_not_stop_the_turn(caplog):
    frames = Frames(fail=True)
    runner, _ = runner_for(frames)
    change(runner)
    runner._flush()
    change(runner, "more")
    runner._flush()
    assert frames.seqs == [1, 2]
    assert [r.getMessage() for r in caplog.records] == [
        "publishing frame 1 failed",
        "publishing frame 2 failed",
    ]


async def test_a_checkpoint_is_taken_when_due_and_not_again_before_the_interval(settings):
    settings.CHAT_CHECKPOINT_INTERVAL = 2.0
    runner, _ = runner_for(Frames())
    runner._checkpoint = None
    saved: list[float] = []

    async def save() -> None:
        saved.append(runner._checkpoint_due)
        runner._checkpoint = None

    runner._save_checkpoint = save  # type: ignore[method-assign]
    runner.checkpoint_interval = 2.0
    runner._after_event(10.0, structural=True)  # due at once (0 = the first chance)
    assert runner._checkpoint is not None
    await runner._checkpoint
    runner._after_event(11.9, structural=True)
    assert runner._checkpoint is None  # not due yet
    runner._after_event(12.0, structural=True)  # due exactly now
    await runner._checkpoint
    assert saved == [12.0, 14.0]


async def test_no_checkpoint_before_the_first_rows_or_while_one_runs():
    runner, _ = runner_for(Frames(), started=False)
    runner._checkpoint = None
    runner._after_event(10.0, structural=True)
    assert runner._checkpoint is None and runner._checkpoint_due == 0.0
    runner.shown = StartedTurn(1, 2, 3)  # named on the page, not yet written: no checkpoint
    runner._after_event(10.0, structural=True)
    assert runner._checkpoint is None and runner._checkpoint_due == 0.0
    runner.started = runner.shown
    running = runner._checkpoint = object()  # type: ignore[assignment]
    runner._after_event(10.0, structural=True)
    assert runner._checkpoint is running and runner._checkpoint_due == 0.0


async def test_a_checkpoint_saves_the_snapshot_under_the_lease(monkeypatch):
    saved: list[dict] = []
    monkeypatch.setattr(runner_module, "checkpoint_turn", lambda **kw: saved.append(kw))
    runner, _ = runner_for(Frames())
    runner._checkpoint = object()  # type: ignore[assignment]  # the task that runs it
    change(runner)
    await runner._save_checkpoint()
    assert [(s["message_id"], s["lease_owner"]) for s in saved] == [(3, runner.lease_owner)]
    assert saved[0]["snapshot"].warnings == ["a change to publish"]
    assert runner._checkpoint is None  # the next one may start


async def test_a_failed_checkpoint_is_logged_and_the_turn_goes_on(monkeypatch, caplog):
    def refuse(**kwargs):
        raise RuntimeError("database away")

    monkeypatch.setattr(runner_module, "checkpoint_turn", refuse)
    runner, _ = runner_for(Frames())
    await runner._save_checkpoint()
    assert [r.getMessage() for r in caplog.records] == ["checkpoint failed; the turn goes on"]
    assert runner._checkpoint is None


@pytest.fixture
def beats(monkeypatch) -> list[float]:
    """asyncio.sleep records what it was asked for and only yields: the heartbeat's pauses
    are read, not waited out."""
    return record_sleeps(monkeypatch)


async def steps(n: int) -> None:
    for _ in range(n):
        await REAL_SLEEP(0)


async def test_the_lease_is_renewed_every_third_of_it_once_the_rows_exist(settings, beats):
    settings.TURN_LEASE_SECONDS = 30.0
    runner, _ = runner_for(Frames(), started=False)
    runner._checkpoint = None
    renewals: list[int] = []

    async def save() -> None:
        renewals.append(len(beats))
        runner._checkpoint = None

    runner._save_checkpoint = save  # type: ignore[method-assign]
    heartbeat = asyncio.create_task(runner._heartbeat())
    await steps(5)
    assert renewals == [] and len(beats) >= 3  # it beat, but had no rows to renew
    runner.shown = StartedTurn(1, 2, 3)
    await steps(5)
    assert renewals == []  # shown, but not written yet
    runner.started = runner.shown
    await steps(5)
    heartbeat.cancel()
    assert renewals and set(beats) == {10.0}


async def test_the_lease_is_not_renewed_while_a_checkpoint_runs(beats):
    runner, _ = runner_for(Frames())
    running = runner._checkpoint = object()  # type: ignore[assignment]
    heartbeat = asyncio.create_task(runner._heartbeat())
    await steps(5)
    heartbeat.cancel()
    assert len(beats) >= 3 and runner._checkpoint is running


async def test_images_are_stored_for_the_started_message(monkeypatch):
    stored: list[tuple] = []

    async def store(state, *, message_id, conversation_id):
        stored.append((state, message_id, conversation_id))

    monkeypatch.setattr(images, "store_turn_images", store)
    runner, _ = runner_for(Frames())
    await runner._store_images()
    assert stored == [(runner.state, 3, 1)]


async def test_images_that_cannot_be_stored_lose_only_themselves(monkeypatch, caplog):
    async def fail(state, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(images, "store_turn_images", fail)
    runner, _ = runner_for(Frames())
    await runner._store_images()  # no exception: the answer is saved without them
    assert [r.getMessage() for r in caplog.records] == [
        "could not store the generated images; the answer is saved without"
    ]
