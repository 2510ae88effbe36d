"""TurnRunner's frame and checkpoint timing, driven directly with a stand-in flush clock (no
database, no upstream): when a change goes out at once, when it waits for the clock, and
when a checkpoint is taken."""

import asyncio

import pytest

from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.runner import TurnRunner

PLAN = TurnPlan(user_id=1, conversation_id=None, text="hi", model="m", input=[])


class Clock:
    """The flush clock's interface (chat/turns/ticker.py), recording what waits in it."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.waiting: list[float] = []
        self.flushes: list = []

    def at(self, when, flush):
        self.waiting.append(when)
        self.flushes.append(flush)
        return {flush: None}


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
    runner.started = StartedTurn(1, 2, 3) if started else None
    runner._checkpoint = object()  # type: ignore[assignment]  # none unless a test asks
    runner._tick = clock = Clock(window)  # type: ignore[assignment]
    return runner, clock


def change(runner: TurnRunner, what: str = "a change to publish") -> None:
    runner.state.guard.warn("test", what)


async def test_a_change_due_exactly_at_the_window_end_goes_out_at_once():
    frames = Frames()
    runner, clock = runner_for(frames)
    runner._last_flush = 1.0
    change(runner)
    runner._after_event(1.5, structural=False)
    assert frames.seqs == [1] and clock.waiting == []


async def test_a_change_within_the_window_waits_for_the_clock_once():
    frames = Frames()
    runner, clock = runner_for(frames)
    runner._last_flush = 1.0
    change(runner)
    runner._after_event(1.2, structural=False)
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
    assert frames.seqs == [1] and clock.waiting == []


async def test_a_frame_sent_early_leaves_its_clock_slot():
    frames = Frames()
    runner, clock = runner_for(frames)
    runner._last_flush = 1.0
    change(runner)
    runner._after_event(1.2, structural=False)
    slot = runner._flush_slot
    runner.flush_pending()  # a snapshot is about to be taken
    assert frames.seqs == [1] and slot == {} and runner._flush_slot is None


async def test_flush_pending_without_a_wait_publishes_nothing():
    frames = Frames()
    runner, _ = runner_for(frames)
    change(runner)
    runner.flush_pending()
    assert frames.seqs == [] and runner.state.take_changes()  # still waiting for its frame


async def test_frames_wait_for_the_first_rows_and_number_from_one():
    frames = Frames()
    runner, _ = runner_for(frames, started=False)
    change(runner)
    runner._flush()
    assert frames.seqs == [] and runner.seq == 0
    runner.started = StartedTurn(1, 2, 3)
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
    runner.started = StartedTurn(1, 2, 3)
    running = runner._checkpoint = object()  # type: ignore[assignment]
    runner._after_event(10.0, structural=True)
    assert runner._checkpoint is running and runner._checkpoint_due == 0.0
