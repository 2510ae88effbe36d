"""Frames for another process that one tick queues back to back cross Redis as one message
(chat/turns/bridge.py), in order, with no gap, and nothing moves past any other message."""

import asyncio
import uuid

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from chat.turns import bridge as wire
from tests.conftest import REQUIRE_SERVICES, port_open, require

pytestmark = pytest.mark.services


def frame(conversation: int, seq: int, target: str = "proc.b") -> wire.Op:
    body = wire.wire_body(wire.Frame(conversation=conversation, seq=seq, html=f"<p>{seq}</p>"))
    return ("send", target, body)


def seqs(op: wire.Op) -> list[tuple[int, int]]:
    body = op[2]["body"]
    frames = body["frames"] if body["kind"] == "frames" else [body]
    return [(f["conversation"], f["seq"]) for f in frames]


def test_consecutive_frames_to_one_channel_become_one_message_in_order():
    ops = [frame(c, s) for s in (1, 2) for c in (10, 11, 12)]
    out = wire.batch_frames(ops)
    assert len(out) == 1 and out[0][:2] == ("send", "proc.b")
    assert seqs(out[0]) == [(10, 1), (11, 1), (12, 1), (10, 2), (11, 2), (12, 2)]
    assert wire.Frames.model_validate(out[0][2]["body"])  # what the listener validates


def test_nothing_moves_past_another_message_and_batches_are_bounded():
    snapshot = ("send", "proc.b", wire.wire_body(wire.Snapshot(conversation=10, socket="s",
                                                                seq=1, html="x")))  # fmt: skip
    join = ("group_add", "turn.11", None)
    ops = [frame(10, 1), frame(11, 1, "proc.c"), frame(10, 2), snapshot, frame(10, 3), join]
    ops += [frame(12, s) for s in range(1, wire.MAX_BATCH + 6)]
    out = wire.batch_frames(ops)
    assert [o[1] for o in out[:6]] == ["proc.b", "proc.c", "proc.b", "proc.b", "proc.b", "turn.11"]
    assert out[3] == snapshot and out[5] == join
    assert [len(seqs(o)) for o in out[6:]] == [wire.MAX_BATCH, 5]
    flat = [s for o in out if o[2] and o[2]["body"]["kind"] in ("frame", "frames") for s in seqs(o)]
    assert flat == [(10, 1), (11, 1), (10, 2), (10, 3)] + [
        (12, s) for s in range(1, wire.MAX_BATCH + 6)
    ]


async def test_a_tick_of_frames_crosses_redis_as_one_message_with_no_gap():
    require(port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379",
            required=REQUIRE_SERVICES)  # fmt: skip
    prefix = f"tb{uuid.uuid4().hex[:8]}"
    got: list[wire.AnyMessage] = []
    arrived = asyncio.Event()

    def on_message(message) -> None:
        got.append(message)
        if len(got) == 300:
            arrived.set()

    sender, receiver = wire.Bridge(lambda m: None), wire.Bridge(on_message)
    layers = []
    for b in (sender, receiver):
        b.layer = RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:6379/0"], prefix=prefix)
        layers.append(b.layer)
    published = 0
    real_send = sender.layer.send

    async def counting_send(channel, message):  # counts, then the real Redis send
        nonlocal published
        published += 1
        await real_send(channel, message)

    sender.layer.send = counting_send
    try:
        await sender.start()
        await receiver.start()
        target = await receiver.ready()
        await asyncio.sleep(0.2)  # both listeners subscribed
        for seq in range(1, 101):  # queued in one go, as a tick of many turns queues them
            for conversation in (1, 2, 3):
                sender.send(target, wire.Frame(conversation=conversation, seq=seq, html="t"))
        await asyncio.wait_for(arrived.wait(), 10)
        assert all(isinstance(m, wire.Frame) for m in got)
        for conversation in (1, 2, 3):
            assert [m.seq for m in got if m.conversation == conversation] == list(range(1, 101))
        assert published <= 3  # 300 frames: 256 + 44, however the sender task woke
    finally:
        await sender.stop()
        await receiver.stop()
        for layer in layers:
            await layer.flush()


def test_a_lone_frame_goes_as_itself_and_other_messages_pass_unchanged():
    """What the sender hands the channel layer: `send` (its method name) with the bridge's
    wire body, exactly; a frame alone is not wrapped in a one-frame batch."""
    lone = frame(10, 1)
    join = ("group_add", "turn.10", None)
    assert wire.batch_frames([lone, join]) == [
        ("send", "proc.b", {"type": "bridge", "body": lone[2]["body"]}),
        join,
    ]
    (batch,) = wire.batch_frames([frame(10, 1), frame(10, 2)])
    assert batch == (
        "send",
        "proc.b",
        {"type": "bridge", "body": {"kind": "frames", "frames": [
            frame(10, 1)[2]["body"], frame(10, 2)[2]["body"]]}},
    )  # fmt: skip
    body = wire.wire_body(wire.Frame(conversation=3, seq=4, html="<p>4</p>"))
    assert body["type"] == "bridge" and body["body"]["kind"] == "frame" and len(body) == 2
