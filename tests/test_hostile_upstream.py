# ruff: noqa: F811  (fixtures imported from the fault matrix are parameters here)
"""A hostile upstream, end to end (issue 13, "a hostile or broken upstream can freeze every
user"): each finding replayed through a person's socket, the real registry, runner and
database and the loopback fake upstream, while another person streams at the same time.

Each checks that the other person's stream kept flowing (the longest gap between their
frames is measured and printed), that the turn ends in a clear state with its text saved,
and what the tab was sent.
"""

import asyncio

import pytest

from tests import fake_upstream as fake
from tests.test_fault_matrix import (  # the matrix's harness: tabs, sends, the bystander
    BYSTANDER_TEXT,
    USAGE,
    Tab,
    fake_completion,
    open_tab,
    opening,
    other_user,  # noqa: F401, F811 (fixture)
    requests_reach,
    response,
    send,
    stored_answer,
    user,  # noqa: F401, F811 (fixture)
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("fresh_registry"),
]
# Between two frames of the bystander (one every ~20 ms upstream). The issue measured freezes
# of 8.8 and 13.8 s; the event loop now yields every 64 events. Generous: the machine is shared.
MAX_GAP = 1.0


async def run_with_bystander(upstream, user, other_user, replies) -> tuple[Tab, object, float]:
    """The victim's turn on `replies` while the bystander streams; both read to the end."""
    victim, conversation = await open_tab(user, "victim")
    bystander, _ = await open_tab(other_user, "bystander")
    upstream.enqueue(fake.text_stream(BYSTANDER_TEXT, chunk=4, delay=0.02))
    await send(bystander, "keep talking")
    await requests_reach(upstream, 1)
    upstream.enqueue(*replies)
    await send(victim, "go")
    await asyncio.gather(victim.read_until_final(), bystander.read_until_final())
    gap = bystander.gaps()
    print(f"bystander: {len(bystander.frames)} frames, longest gap {gap * 1000:.0f} ms")
    assert len(bystander.frames) >= 10, "the bystander's answer came as one lump"
    assert gap < MAX_GAP, f"another person's stream stopped for {gap:.2f} s"
    await victim.comm.disconnect()
    await bystander.comm.disconnect()
    return victim, conversation, gap


def sent_bytes(tab: Tab) -> int:
    return sum(len(frame) for _, frame in tab.frames)


def ending(text: str = "") -> list[dict]:
    return fake_completion(text, opened=True)


async def test_a_huge_content_index_is_dropped_and_costs_nothing(upstream, user, other_user):
    hostile = {"type": "response.output_text.delta", "item_id": "msg_f", "output_index": 0,
               "content_index": 100_000, "delta": "pad me"}  # fmt: skip
    events = [*opening("Hello"), hostile, *ending("Hello")]
    victim, conversation, _ = await run_with_bystander(
        upstream, user, other_user, [fake.events(events)]
    )
    answer, usage = await stored_answer(conversation)
    assert (answer.status, answer.text) == ("completed", "Hello")
    assert len(answer.items[0]["parts"]) == 1 and len(usage) == 1
    assert any("out-of-range index 100000" in w for w in answer.warnings)
    assert sent_bytes(victim) < 50_000  # was 12.8 MB


async def test_a_negative_content_index_ends_the_turn_cleanly(upstream, user, other_user):
    hostile = {"type": "response.output_text.delta", "item_id": "msg_f", "output_index": 0,
               "content_index": -5, "delta": "boom"}  # fmt: skip
    events = [*opening("Kept "), hostile, {"type": "response.completed",
              "response": response("completed", usage=USAGE)}]  # fmt: skip
    _, conversation, _ = await run_with_bystander(upstream, user, other_user, [fake.events(events)])
    answer, usage = await stored_answer(conversation)
    assert (answer.status, answer.text, len(usage)) == ("completed", "Kept ", 1)
    assert answer.warnings


@pytest.mark.parametrize("n", [200, 2000])
async def test_malformed_events_send_bytes_that_do_not_grow_with_their_square(
    upstream, user, other_user, n
):
    events = [*opening("good "), *["data: {not json\n\n"] * n, *ending("good text")]
    victim, conversation, _ = await run_with_bystander(
        upstream, user, other_user, [fake.events(events)]
    )
    answer, _ = await stored_answer(conversation)
    assert (answer.status, answer.text) == ("completed", "good text")
    assert answer.warnings == [
        f"Skipped a malformed event: {{not json (and {n - 1:,} more malformed events)"
    ]
    # Bounded whatever n is (was 128 MB in one socket message for n = 2000).
    assert sent_bytes(victim) < 60_000, sent_bytes(victim)


@pytest.mark.parametrize(
    "flood",
    [
        pytest.param(
            [{"type": "response.in_progress", "response": response("in_progress")}] * 20_000,
            id="20k in_progress",
        ),  # fmt: skip
        pytest.param(
            [
                {
                    "type": "response.output_text.delta",
                    "item_id": "msg_f",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": ".",
                }
            ]
            * 100_000,
            id="100k one-character deltas",
        ),  # fmt: skip
    ],
)
async def test_a_flood_of_tiny_events_does_not_stall_other_streams(
    upstream, user, other_user, flood
):
    events = [*opening(""), *flood, {"type": "response.completed",
              "response": response("completed", usage=USAGE)}]  # fmt: skip
    victim, conversation, _ = await run_with_bystander(
        upstream, user, other_user, [fake.events(events)]
    )
    answer, usage = await stored_answer(conversation)
    expected = "".join(e.get("delta", "") for e in flood)
    assert (answer.status, answer.text, len(usage)) == ("completed", expected, 1)
    # Frames are coalesced: never one per event.
    assert len(victim.frames) < 200, len(victim.frames)


async def test_an_event_past_the_size_limit_is_dropped_as_it_streams(upstream, user, other_user):
    huge = {"type": "response.output_text.delta", "item_id": "msg_f", "output_index": 0,
            "content_index": 0, "delta": "z" * (9 * 1024 * 1024)}  # fmt: skip
    events = [*opening("Kept"), huge, *ending("Kept")]
    _, conversation, _ = await run_with_bystander(upstream, user, other_user, [fake.events(events)])
    answer, usage = await stored_answer(conversation)
    assert (answer.status, answer.text, len(usage)) == ("completed", "Kept", 1)
    assert any("larger than 8 MiB" in w for w in answer.warnings), answer.warnings
