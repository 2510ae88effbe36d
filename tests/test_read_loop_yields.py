"""The upstream read loop gives the event loop a turn every few events, however fast the
server sends: a flood from one upstream cannot hold every other person's stream (issue 13).

Counted, not timed: a ticker task runs each time the reader yields to the loop.
"""

import asyncio

import pytest

from chat.upstream import client
from chat.upstream.client import UpstreamConfig, close_shared_client, stream_response
from tests import fake_upstream as fake

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server():
    with fake.FakeUpstream() as upstream:
        yield upstream


def flood(n: int) -> fake.Reply:
    delta = {"type": "response.output_text.delta", "output_index": 0, "content_index": 0}
    events = [{**delta, "delta": "x", "sequence_number": i} for i in range(n)]
    events.append({"type": "response.completed", "response": {"status": "completed"}})
    return fake.events(events)  # sent in one write: the reader finds it all buffered


async def longest_run_without_a_tick(server, n: int) -> tuple[int, int]:
    """Events read, and the most read in a row while no other task could run."""
    events = 0
    last_tick_at = 0
    longest = 0
    reading = True

    async def ticker() -> None:
        nonlocal last_tick_at
        while reading:
            last_tick_at = events
            await asyncio.sleep(0)

    server.enqueue(flood(n))
    task = asyncio.create_task(ticker())
    try:
        async for _ in stream_response({"model": "m"}, config=UpstreamConfig(server.base_url)):
            events += 1
            longest = max(longest, events - last_tick_at)
    finally:
        reading = False
        await task
        await close_shared_client()
    return events, longest


async def test_a_flood_of_buffered_events_yields_to_other_tasks(server):
    n = 20_000
    events, longest = await longest_run_without_a_tick(server, n)
    assert events == n + 1
    # Before: as many as one network chunk holds (hundreds to thousands of events).
    assert longest <= client.YIELD_EVERY + 1 <= 65, longest
