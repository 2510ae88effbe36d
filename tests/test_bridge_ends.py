"""This process's end of the channel layer, driven over a fake layer (chat/turns/bridge.py):
it takes one channel and joins the groups every process joins, the sender hands each call to
the layer in order and survives a failed one, and the listener validates, unbatches and hands
messages on, surviving malformed ones, failing handlers and a failing layer."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from pydantic import ValidationError

from chat.turns import bridge as wire
from tests.raw_http import until


class FakeLayer:
    """Records the calls the sender makes; `receive` hands out what a test queues."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.prefixes: list[str] = []
        self.fail_on: set[str] = set()
        self.listened_on: set[str] = set()

    async def new_channel(self, prefix: str) -> str:
        self.prefixes.append(prefix)
        return prefix + "abc"

    async def receive(self, channel: str):
        self.listened_on.add(channel)
        raw = await self.inbox.get()
        if isinstance(raw, Exception):
            raise raw
        return raw

    def __getattr__(self, op: str):
        if op not in ("send", "group_send", "group_add", "group_discard"):
            raise AttributeError(op)

        async def call(target, value):
            self.calls.append((op, target, value))
            if target in self.fail_on:
                raise ConnectionError("layer down")

        return call


async def started(handler=lambda message: None) -> tuple[wire.Bridge, FakeLayer]:
    bridge = wire.Bridge(handler)
    bridge.layer = layer = FakeLayer()
    await bridge.start()
    return bridge, layer


def logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chat.turns.bridge"]


async def test_a_started_bridge_has_its_channel_and_joins_the_groups_of_every_process():
    bridge, layer = await started()
    try:
        assert await bridge.ready() == "proc.abc" and layer.prefixes == ["proc."]
        await until(lambda: len(layer.calls) == 2)
        assert layer.calls == [
            ("group_add", "access", "proc.abc"),
            ("group_add", "conversations", "proc.abc"),
        ]
    finally:
        await bridge.stop()


async def test_every_call_reaches_the_layer_in_order_with_the_right_method():
    bridge, layer = await started()
    try:
        frame = wire.Frame(conversation=3, seq=1, html="<f/>")
        cancel = wire.Cancel(conversation=3)
        bridge.join("turn.3")
        bridge.send("proc.x", frame)
        bridge.group_send("turn.3", cancel)
        bridge.leave("turn.3")
        await until(lambda: len(layer.calls) == 6)
        assert layer.calls[2:] == [
            ("group_add", "turn.3", "proc.abc"),
            ("send", "proc.x", wire.wire_body(frame)),
            ("group_send", "turn.3", wire.wire_body(cancel)),
            ("group_discard", "turn.3", "proc.abc"),
        ]
    finally:
        await bridge.stop()


async def test_a_failed_call_is_logged_and_the_next_ones_still_go(caplog):
    bridge, layer = await started()
    try:
        layer.fail_on.add("proc.down")
        bridge.send("proc.down", wire.Cancel(conversation=1))
        await until(lambda: len(layer.calls) == 3)
        bridge.send("proc.up", wire.Cancel(conversation=2))
        await until(lambda: len(layer.calls) == 4)
        assert layer.calls[3][1] == "proc.up"
        assert logged(caplog) == ["channel layer send to proc.down failed: layer down"]
    finally:
        await bridge.stop()


async def test_frames_queued_in_one_tick_go_as_one_batch():
    bridge, layer = await started()
    try:
        await until(lambda: len(layer.calls) == 2)
        for seq in (1, 2, 3):
            bridge.send("proc.x", wire.Frame(conversation=3, seq=seq, html="t"))
        await until(lambda: len(layer.calls) >= 3)
        await asyncio.sleep(0.02)
        assert len(layer.calls) == 3
        body = layer.calls[2][2]["body"]
        assert body["kind"] == "frames" and [f["seq"] for f in body["frames"]] == [1, 2, 3]
    finally:
        await bridge.stop()


async def test_the_listener_hands_on_each_message_and_each_frame_of_a_batch_in_order():
    got = []
    bridge, layer = await started(got.append)
    try:
        frames = [wire.Frame(conversation=3, seq=s, html="t").model_dump() for s in (1, 2)]
        await layer.inbox.put({"type": "bridge", "body": {"kind": "frames", "frames": frames}})
        await layer.inbox.put({"kind": "cancel", "conversation": 4})  # a bare body is read too
        await until(lambda: len(got) == 3)
        assert got == [
            wire.Frame(conversation=3, seq=1, html="t"),
            wire.Frame(conversation=3, seq=2, html="t"),
            wire.Cancel(conversation=4),
        ]
        assert layer.listened_on == {"proc.abc"}  # its own channel
    finally:
        await bridge.stop()


async def test_the_listener_skips_malformed_messages_and_survives_a_failing_handler(caplog):
    got = []

    def handler(message) -> None:
        if message.seq == 1:
            raise RuntimeError("boom")
        got.append(message.seq)

    bridge, layer = await started(handler)
    try:
        await layer.inbox.put({"type": "bridge", "body": {"kind": "frame", "conversation": 1}})
        frames = [wire.Frame(conversation=3, seq=s, html="t").model_dump() for s in (1, 2)]
        await layer.inbox.put({"type": "bridge", "body": {"kind": "frames", "frames": frames}})
        await layer.inbox.put(wire.wire_body(wire.Frame(conversation=3, seq=3, html="t")))
        await until(lambda: got == [2, 3])
        (warned,) = [r for r in caplog.records if r.levelname == "WARNING"]
        assert warned.msg == "ignored a malformed bridge message: %s"
        errors = warned.args[0]  # seq and html are both missing: the first one is enough
        assert len(errors) == 1 and errors[0]["loc"] == ("frame", "seq")
        assert logged(caplog)[0].startswith("ignored a malformed bridge message: [{")
        assert logged(caplog)[1] == "bridge message frame failed"
    finally:
        await bridge.stop()


async def test_the_listener_retries_a_second_after_the_layer_fails(caplog, monkeypatch):
    got, pauses = [], []
    real_sleep = asyncio.sleep

    async def sleep(seconds):  # records the listener's pause, waits only a moment
        pauses.append(seconds)
        await real_sleep(min(seconds, 0.01))

    monkeypatch.setattr(wire.asyncio, "sleep", sleep)
    bridge, layer = await started(got.append)
    try:
        await layer.inbox.put(ConnectionError("redis gone"))
        await layer.inbox.put(wire.wire_body(wire.Cancel(conversation=5)))
        await until(lambda: got == [wire.Cancel(conversation=5)])
        assert [p for p in pauses if p >= 0.5] == [1]
        assert logged(caplog) == ["channel layer receive failed; retrying"]
    finally:
        await bridge.stop()


async def test_stop_ends_both_tasks_and_is_harmless_before_start():
    await wire.Bridge(lambda m: None).stop()
    bridge, _ = await started()
    listener, sender = bridge._listener, bridge._sender
    await bridge.stop()
    await asyncio.gather(listener, sender, return_exceptions=True)
    assert listener.cancelled() and sender.cancelled()
    assert listener.get_name() == "bridge-listener" and sender.get_name() == "bridge-sender"


def test_the_bridge_uses_the_process_channel_layer():
    assert wire.Bridge(lambda m: None).layer is get_channel_layer()


def test_only_a_layer_shared_between_processes_is_crossed(monkeypatch):
    class InMemoryChannelLayer:
        pass

    class RedisPubSubChannelLayer:
        pass

    for layer, crosses in ((None, False), (InMemoryChannelLayer(), False),
                           (RedisPubSubChannelLayer(), True)):  # fmt: skip
        monkeypatch.setattr(wire, "get_channel_layer", lambda layer=layer: layer)
        assert wire.crosses_processes() is crosses


def test_the_groups_are_named_per_conversation():
    assert (wire.watch_group(12), wire.turn_group(12)) == ("watch.12", "turn.12")
    assert (wire.ACCESS_GROUP, wire.EVERY_PROCESS) == ("access", "conversations")


def test_messages_are_strict_and_bounded():
    with pytest.raises(ValidationError):
        wire.Frame(conversation=1, seq=1, html="x", extra="no")
    with pytest.raises(ValidationError):
        wire.Frames(frames=[wire.Frame(conversation=1, seq=s, html="x")
                            for s in range(wire.MAX_BATCH + 1)])  # fmt: skip
    assert len(wire.Frames(frames=[wire.Frame(conversation=1, seq=1, html="x")] *
                           wire.MAX_BATCH).frames) == wire.MAX_BATCH  # fmt: skip
    notice = wire.AccessChanged()
    assert (notice.conversations, notice.users, notice.origin) == ([], [], "")
    with pytest.raises(ValidationError):
        wire.AccessChanged(users=list(range(10_001)))
    assert len(wire.AccessChanged(users=list(range(10_000))).users) == 10_000
    for model in (wire.TurnStarted(conversation=1, html=""), wire.Snapshot(
            conversation=1, socket="s", seq=1, html=""), wire.Frame(conversation=1, seq=1, html=""),
            wire.Ended(conversation=1, html="")):  # fmt: skip
        assert model.viewer_html is None
    event = wire.ConversationEvent(conversation=1, origin="o", users=[], watcher_html="",
                                   user_html="")  # fmt: skip
    assert (event.viewer_html, event.owner, event.owner_html) == (None, 0, "")
    with pytest.raises(ValidationError):
        wire.ConversationEvent(conversation=1, origin="o", users=list(range(10_001)),
                               watcher_html="", user_html="")  # fmt: skip
