"""The final save's retries and its shield (chat/turns/final_save.py), driven directly with a
stand-in finish_turn: how often and after which pauses it tries, what it saves each time, and
that a cancellation waits for the save to end."""

import asyncio

import pytest
from django.db import InterfaceError, OperationalError

from chat.turns import final_save
from tests.recorded_sleeps import REAL_SLEEP, record_sleeps


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The pauses between tries, read rather than waited out."""
    return record_sleeps(monkeypatch)


def finishing(monkeypatch, failures: list[Exception]) -> list[dict]:
    """finish_turn that raises each of `failures` in turn, then returns its arguments."""
    calls: list[dict] = []

    def finish_turn(**kwargs):
        calls.append(kwargs)
        if failures:
            raise failures.pop(0)
        return kwargs

    monkeypatch.setattr(final_save, "finish_turn", finish_turn)
    return calls


async def store(snapshots=None):
    snapshots = snapshots if snapshots is not None else iter(range(100))
    return await final_save.store_final(
        message_id=7, snapshot=lambda: next(snapshots), input_chars=12, lease_owner="me",
        requested_model="m",
    )  # fmt: skip


async def test_a_busy_database_is_tried_again_with_the_turn_as_it_stands(
    monkeypatch, pauses, caplog
):
    calls = finishing(monkeypatch, [OperationalError("locked"), InterfaceError("gone")])
    stored = await store(iter(["first", "second", "third"]))
    assert pauses == [0.1, 0.3]
    assert [c["snapshot"] for c in calls] == ["first", "second", "third"]  # fresh each try
    assert stored == {"message_id": 7, "snapshot": "third", "input_chars": 12,
                      "lease_owner": "me", "requested_model": "m"}  # fmt: skip
    assert [r.getMessage() for r in caplog.records] == [
        "final save failed (locked); trying again in 0.1 s",
        "final save failed (gone); trying again in 0.3 s",
    ]


async def test_a_database_that_never_answers_gives_up_after_the_last_pause(monkeypatch, pauses):
    calls = finishing(monkeypatch, [OperationalError(f"locked {i}") for i in range(5)])
    with pytest.raises(OperationalError, match="locked 4"):
        await store()
    assert pauses == [0.1, 0.3, 1.0, 2.0] and len(calls) == 5


async def test_other_errors_are_not_tried_again(monkeypatch, pauses):
    calls = finishing(monkeypatch, [ValueError("a bug")])
    with pytest.raises(ValueError):
        await store()
    assert pauses == [] and len(calls) == 1


async def test_a_cancel_during_the_save_waits_for_it_then_is_raised():
    done = asyncio.Event()
    release = asyncio.Event()

    async def save() -> None:
        await release.wait()
        done.set()

    task = asyncio.create_task(final_save.uncancellable(save()))
    await REAL_SLEEP(0)
    task.cancel()
    await REAL_SLEEP(0)
    assert not task.done()  # still waiting for the save
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert done.is_set()


async def test_a_save_that_fails_after_a_cancel_raises_its_own_error():
    release = asyncio.Event()

    async def save() -> None:
        await release.wait()
        raise OperationalError("locked")

    task = asyncio.create_task(final_save.uncancellable(save()))
    await REAL_SLEEP(0)
    task.cancel()
    await REAL_SLEEP(0)
    release.set()
    with pytest.raises(OperationalError):
        await asyncio.wait_for(task, 5)


async def test_an_uncancelled_save_just_runs():
    ran: list[str] = []

    async def save() -> None:
        ran.append("saved")

    await final_save.uncancellable(save())
    assert ran == ["saved"]
