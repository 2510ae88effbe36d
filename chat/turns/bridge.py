"""Crossing processes through the channel layer, only where a socket in another process watches.

Each process has one channel of its own and a listener on it. Per conversation there are two
groups: `watch.<id>`, joined by every process with local sockets on that conversation, and
`turn.<id>`, joined by the process running its turn. The protocol (all messages strict):

- a turn starts: the runner's process tells `watch.<id>` (`turn_started`, with the new rows);
- a process with sockets asks `turn.<id>` for a snapshot (`watch`); the runner's process
  answers it directly (`snapshot`) and from then on sends it every frame (`frame`);
- Stop from anywhere: `cancel` to `turn.<id>`;
- access withdrawn anywhere: `access_changed` to the `access` group, which every process joins.

So a frame costs a channel-layer message only per watching process, never per delta, and
nothing at all when every watcher sits in the runner's process.
"""

import asyncio
import logging
from typing import Annotated, Literal

from channels.layers import get_channel_layer
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chat.socket_writer import write_pass

log = logging.getLogger(__name__)
MAX_BATCH = 256  # frames in one channel-layer message (a tick of 400 turns takes two)


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation: int


class TurnStarted(_Msg):
    kind: Literal["turn_started"] = "turn_started"
    html: str
    viewer_html: str | None = None  # for read-only viewers, when it differs


class Watch(_Msg):
    kind: Literal["watch"] = "watch"
    reply_to: str
    socket: str


class Snapshot(_Msg):
    kind: Literal["snapshot"] = "snapshot"
    socket: str
    seq: int
    html: str
    viewer_html: str | None = None  # for read-only viewers, when it differs


class Frame(_Msg):
    kind: Literal["frame"] = "frame"
    seq: int
    html: str
    viewer_html: str | None = None  # for read-only viewers, when it differs


class Frames(BaseModel):
    """Frames for this process queued back to back (one flush tick of many turns): one
    channel-layer message instead of one `PUBLISH` per frame. Handled in order."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["frames"] = "frames"
    frames: list[Frame] = Field(max_length=MAX_BATCH)


class Unwatch(_Msg):
    kind: Literal["unwatch"] = "unwatch"
    reply_to: str


class Cancel(_Msg):
    kind: Literal["cancel"] = "cancel"


class Ended(_Msg):
    """A turn was ended by someone other than its runner (the sweeper), or its rows, shown
    but never written, are taken back (LiveTurn.retract)."""

    kind: Literal["ended"] = "ended"
    html: str
    viewer_html: str | None = None  # for read-only viewers, when it differs


class AccessChanged(BaseModel):
    """Access may have been withdrawn (unshared, deactivated, removed from a team): every
    process re-checks its sockets on these conversations and of these people."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["access_changed"] = "access_changed"
    conversations: list[int] = Field(default_factory=list, max_length=10_000)
    users: list[int] = Field(default_factory=list, max_length=10_000)
    origin: str = ""  # the sending process's channel: it has re-checked its own sockets


ACCESS_GROUP = "access"  # joined by every process


class ConversationEvent(_Msg):
    """A conversation-level change (renamed, archived, deleted: chat/history/broadcast.py),
    sent to every process; each shows it to its own sockets."""

    kind: Literal["conversation_event"] = "conversation_event"
    origin: str  # the sending process's channel: it has shown the event already
    users: list[int] = Field(max_length=10_000)
    watcher_html: str  # for sockets watching the conversation
    viewer_html: str | None = None  # for read-only ones instead (no owner controls), if set
    user_html: str  # for every socket of those users (their sidebars)
    # The owner's sidebar names the conversation conv-N, others' shared-N: each gets only the
    # ids it has (htmx logs an error for every oob element without a target).
    owner: int = 0
    owner_html: str = ""


AnyMessage = (
    TurnStarted | Watch | Snapshot | Frame | Frames | Unwatch | Cancel | Ended | AccessChanged
    | ConversationEvent
)  # fmt: skip
Message = Annotated[AnyMessage, Field(discriminator="kind")]
_adapter: TypeAdapter[AnyMessage] = TypeAdapter(Message)


EVERY_PROCESS = "conversations"  # joined by every process: conversation-level events


def watch_group(conversation_id: int) -> str:
    return f"watch.{conversation_id}"


def turn_group(conversation_id: int) -> str:
    return f"turn.{conversation_id}"


def crosses_processes() -> bool:
    """The in-memory layer lives in one process: nothing to cross, so no bridge at all."""
    layer = get_channel_layer()
    return layer is not None and type(layer).__name__ != "InMemoryChannelLayer"


class Bridge:
    """This process's end of the channel layer: one channel, one listener task."""

    def __init__(self, handler) -> None:
        self.layer = get_channel_layer()
        self.handler = handler  # TurnRegistry.on_bridge_message
        self.channel: str | None = None
        self._listener: asyncio.Task | None = None
        self._sender: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._outbox: asyncio.Queue[tuple[str, str, dict | None]] = asyncio.Queue()

    async def start(self) -> None:
        self.channel = await self.layer.new_channel("proc.")
        self.join(ACCESS_GROUP)
        self.join(EVERY_PROCESS)
        self._listener = asyncio.create_task(self._listen(), name="bridge-listener")
        self._sender = asyncio.create_task(self._send_all(), name="bridge-sender")
        self._ready.set()

    async def ready(self) -> str:
        await self._ready.wait()
        assert self.channel is not None
        return self.channel

    async def _listen(self) -> None:
        assert self.channel is not None
        while True:
            try:
                raw = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("channel layer receive failed; retrying")
                await asyncio.sleep(1)
                continue
            try:
                message = _adapter.validate_python(raw.get("body", raw))
            except ValidationError as exc:
                log.warning("ignored a malformed bridge message: %s", exc.errors()[:1])
                continue
            with write_pass():  # a batch's frames reach this process's sockets in one pass
                for one in message.frames if isinstance(message, Frames) else (message,):
                    try:
                        self.handler(one)
                    except Exception:
                        log.exception("bridge message %s failed", one.kind)

    # Every outgoing call goes through one queue and one sender task: frames keep their order.
    def send(self, channel: str, message: BaseModel) -> None:
        self._outbox.put_nowait(("send", channel, wire_body(message)))

    def group_send(self, group: str, message: BaseModel) -> None:
        self._outbox.put_nowait(("group_send", group, wire_body(message)))

    def join(self, group: str) -> None:
        self._outbox.put_nowait(("group_add", group, None))

    def leave(self, group: str) -> None:
        self._outbox.put_nowait(("group_discard", group, None))

    async def _send_all(self) -> None:
        channel = await self.ready()
        while True:
            ops = [await self._outbox.get()]
            while not self._outbox.empty():  # all that one tick queued: batch its frames
                ops.append(self._outbox.get_nowait())
            for op, target, body in batch_frames(ops):
                try:
                    if body is None:
                        await getattr(self.layer, op)(target, channel)
                    else:
                        await getattr(self.layer, op)(target, body)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("channel layer %s to %s failed: %s", op, target, exc)

    async def stop(self) -> None:
        for task in (self._listener, self._sender):
            if task is not None:
                task.cancel()


def wire_body(message: BaseModel) -> dict:
    return {"type": "bridge", "body": message.model_dump()}


Op = tuple[str, str, dict | None]


def batch_frames(ops: list[Op]) -> list[Op]:
    """Join runs of frames sent back to back to the same channel into one `frames` message.
    Only consecutive ones: nothing moves past another message, so every order holds."""
    out: list[Op] = []
    run: list[dict] = []
    run_target = ""

    def close_run() -> None:
        if len(run) == 1:
            out.append(("send", run_target, {"type": "bridge", "body": run[0]}))
        elif run:
            body = {"kind": "frames", "frames": list(run)}
            out.append(("send", run_target, {"type": "bridge", "body": body}))
        run.clear()

    for op, target, body in ops:
        frame = op == "send" and body is not None and body["body"].get("kind") == "frame"
        if frame and (target != run_target or len(run) >= MAX_BATCH):
            close_run()
        if frame:
            run_target = target
            run.append(body["body"])
        else:
            close_run()
            out.append((op, target, body))
    close_run()
    return out
