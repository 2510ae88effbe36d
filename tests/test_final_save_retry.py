"""Fault matrix: the database refuses the final save (SQLite: another connection holds the write
lock). A short lock: the save is tried again and stored whole. A lock that outlasts every
try: the turn is left for the sweeper, which marks it interrupted with its saved text."""

import asyncio
import sqlite3

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connection

from chat.models import Message, UsageRecord
from chat.turns import final_save
from chat.turns.sweeper import sweep_expired
from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake
from tests.test_turn_end import final_save_begun, started_runner

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def writer_lock():
    """Another connection to the test database that can hold its write lock."""
    if connection.vendor != "sqlite" or "memory" not in connection.settings_dict["NAME"]:
        pytest.skip("needs the in-memory SQLite test database (a second connection locks it)")
    other = sqlite3.connect(connection.settings_dict["NAME"], uri=True, isolation_level=None)
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


def lock(other: sqlite3.Connection) -> None:
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE chat_conversation SET title = title")  # a write: the lock is taken


@sync_to_async
def stored(runner) -> tuple[Message, int]:
    message = Message.objects.get(pk=runner.started.assistant_message_id)
    return message, UsageRecord.objects.filter(message=message).count()


async def test_a_final_save_refused_for_a_moment_is_tried_again(
    upstream, user, writer_lock, caplog
):
    text = "retry " * 40
    upstream.enqueue(fake.text_stream(text, chunk=6, delay=0.001))
    runner, task, _ = await started_runner(user)
    await final_save_begun(runner)
    lock(writer_lock)
    await asyncio.sleep(0.5)  # longer than the first two pauses (0.1 s, 0.3 s)
    writer_lock.execute("COMMIT")
    snapshot = await asyncio.wait_for(task, 15)
    message, usage_rows = await stored(runner)
    assert message.status == snapshot.status == "completed"
    assert message.text == text and usage_rows == 1
    assert "final save failed" in caplog.text  # it was refused, then tried again
    await close_shared_client()


async def test_a_final_save_refused_for_good_is_marked_interrupted_by_the_sweeper(
    upstream, user, writer_lock, settings, monkeypatch
):
    monkeypatch.setattr(final_save, "FINISH_RETRY_PAUSES", (0.05, 0.05))  # keep it quick
    settings.TURN_LEASE_SECONDS = 1
    settings.CHAT_CHECKPOINT_INTERVAL = 0.05
    text = "lost " * 200
    upstream.enqueue(fake.text_stream(text, chunk=5, delay=0.002))
    runner, task, _ = await started_runner(user)
    await final_save_begun(runner)
    lock(writer_lock)
    with pytest.raises(OperationalError):
        await asyncio.wait_for(task, 15)
    writer_lock.execute("COMMIT")
    message, _ = await stored(runner)
    assert message.status == "streaming"  # not saved, and not hidden either: the lease runs out
    await asyncio.sleep(1.1)  # TURN_LEASE_SECONDS: the lease of the last checkpoint expires
    ended, _ = await sync_to_async(sweep_expired)()
    assert [m.pk for m in ended] == [message.pk]
    message, usage_rows = await stored(runner)
    assert message.status == "interrupted" and message.error_message  # marked with why
    assert text.startswith(message.text) and message.text  # the checkpointed text is kept
    assert usage_rows == 1
    await close_shared_client()
