"""Stop and shutdown, driven on TurnRunner directly: a shutdown's stop is stored as
interrupted (not cancelled), and a cancel from outside the runner still ends with a save."""

import asyncio

import pytest

from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake
from tests.test_turn_end import started_runner, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


async def test_a_shutdown_stop_keeps_the_partial_answer_as_interrupted(upstream, user):
    upstream.enqueue(fake.text_stream("word " * 300, chunk=5, delay=0.005))
    runner, task, _ = await started_runner(user)
    assert runner.cancel(interrupt=True) is True
    snapshot = await asyncio.wait_for(task, 10)
    message, usage_rows = await stored(runner)
    assert message.status == snapshot.status == "interrupted"
    assert message.text == snapshot.text and message.text.startswith("word")
    assert usage_rows == 1
    await close_shared_client()


async def test_a_cancel_from_outside_is_stored_as_cancelled_and_raised_again(upstream, user):
    upstream.enqueue(fake.text_stream("word " * 300, chunk=5, delay=0.005))
    runner, task, _ = await started_runner(user)
    task.cancel()  # Ctrl-C or a shutdown, not a Stop: the caller must see it
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    message, usage_rows = await stored(runner)
    assert message.status == "cancelled" and message.text.startswith("word")
    assert message.lease_owner == "" and usage_rows == 1
    await close_shared_client()
