"""Tool rounds over the conversation socket: a tab attaching mid round 2 sees round 1's call
and result and the text so far, then the rest with no gap and no duplicate; Stop in round 2;
a tool's output is shown escaped."""

import pytest

from chat.models import Conversation
from tests import fake_upstream as fake
from tests import tool_kit
from tests.fake_streams import outputs_of, tool_call_stream
from tests.relay_client import TabText, connected, receive_until, send
from tests.test_consumers import FINAL, answer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("fresh_registry"),
]
COUNT = "".join(f"{i:03d} " for i in range(200))


@pytest.fixture
def conversation(user, settings):
    settings.CHAT_TOOLS = tool_kit.BUILTINS
    return Conversation.objects.create(owner=user, title="Tools")


def counting(gate: fake.Gate) -> fake.Reply:
    """Round 2: the tool's result, then a count held at the gate after 20 deltas."""

    def build(body: dict) -> fake.Reply:
        text = f"{outputs_of(body)['calculator']} {COUNT}"
        return fake.text_stream(text, delay=0.002, gate=gate, gate_after=20)

    return fake.respond(build)


async def text_until(comm, needle: str) -> None:
    """Frames until the answer's text (however the deltas were split) contains `needle`."""
    tab = TabText()
    while not any(needle in text for text in tab.text.values()):
        tab.feed(await comm.receive_from(timeout=5))


def text_at(tab: TabText, message_id: int, position: int) -> str:
    return tab.text.get(f"m{message_id}-i{position}-text-0", "").strip()


async def test_a_tab_attaching_mid_round_two_sees_everything_once(upstream, conversation, user):
    gate = fake.Gate()
    upstream.enqueue(tool_call_stream([("calculator", {"expression": "6*7"})]), counting(gate))
    first = await connected(conversation.pk, user)
    try:
        await send(first, action="send", message="count after computing")
        await text_until(first, "018 0")  # round 2 is held at the gate from here
        await first.disconnect()
        second = await connected(conversation.pk, user)
        tab = TabText()
        snapshot = await second.receive_from(timeout=5)
        tab.feed(snapshot)
    finally:
        gate.open()
    message = await answer(conversation)
    assert "item-tool_call" in snapshot and "calculator" in snapshot
    assert '<pre class="tool-result">42</pre>' in snapshot
    partial = text_at(tab, message.pk, 2)
    assert partial == f"42 {COUNT}"[:80].strip()  # the 20 deltas before the gate, no more
    frames = [snapshot, *await receive_until(second, FINAL, tab)]
    message = await answer(conversation)
    assert text_at(tab, message.pk, 2) == message.text.strip() == f"42 {COUNT}".strip()
    assert sum(f.count('class="tool-result"') for f in frames[1:]) <= 1  # the final render
    await second.disconnect()


async def test_stop_in_round_two_from_a_tab(upstream, conversation, user):
    where = {"item_id": "msg_r2", "output_index": 0, "content_index": 0}
    stalled = fake.events(
        [
            {"type": "response.created", "response": {"id": "resp_r2", "status": "in_progress"}},
            *({"type": "response.output_text.delta", **where, "delta": f"{i:03d} "} for i in range(20)),
        ],
        delay=0.002,
        end="stall",  # only Stop ends this round
    )  # fmt: skip
    upstream.enqueue(tool_call_stream([("calculator", {"expression": "6*7"})]), stalled)
    comm = await connected(conversation.pk, user)
    await send(comm, action="send", message="go")
    tab = TabText()
    await receive_until(comm, "019 ", tab)
    await send(comm, action="stop")
    await receive_until(comm, FINAL, tab)
    message = await answer(conversation)
    assert message.status == "cancelled"
    assert [i["type"] for i in message.items] == [
        "function_call",
        "function_call_output",
        "message",
    ]
    assert message.text == COUNT[:80]
    assert text_at(tab, message.pk, 2) == message.text.strip()
    assert [r["response_id"] for r in message.rounds][1] == "resp_r2"
    await comm.disconnect()


async def test_a_tool_output_is_shown_escaped(upstream, conversation, user, settings):
    settings.CHAT_TOOLS = ["tests.tool_kit.HOSTILE"]
    upstream.enqueue(tool_call_stream([("hostile", {})]), fake.text_stream("done", delay=0))
    comm = await connected(conversation.pk, user)
    await send(comm, action="send", message="go")
    frames = "".join(await receive_until(comm, FINAL))
    assert "<img src=x" not in frames and "&lt;img src=x onerror=" in frames
    await comm.disconnect()
