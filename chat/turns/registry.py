"""The process's live turns and the sockets watching them.

A turn runs as a task owned by this registry, never by a socket: closing every tab leaves
it running and saving. Frames go straight to the sockets of this process; the channel layer
(chat/turns/bridge.py) carries them only to other processes that have watching sockets.
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async

from chat.models import Message
from chat.socket_writer import write_pass
from chat.turns import bridge as wire
from chat.turns import endpoint, frames
from chat.turns.live import PENDING, LiveTurn, Watcher, for_watcher
from chat.turns.plan import StartedTurn, TurnPlan, TurnRejected, resume_plan
from chat.turns.resume import Resume
from chat.turns.runner import TurnRunner
from chat.upstream.client import close_shared_client

log = logging.getLogger(__name__)
# Called with (conversation id, answer id) after every turn ends; installed at app start-up
# (chat/apps.py) by modules the registry must not import (chat/history/titles.py).
turn_end_hooks: list[Callable[[int, int], Awaitable[None]]] = []


class TurnRegistry:
    def __init__(self) -> None:
        self.turns: dict[int, LiveTurn] = {}
        self.watchers: dict[int, set[Watcher]] = defaultdict(set)
        self.user_watchers: dict[int, set[Watcher]] = defaultdict(set)
        self.bridge: wire.Bridge | None = None
        self.accepting = True
        self._started = False
        self._background: list[asyncio.Task] = []
        self._hook_tasks: set[asyncio.Task] = set()
        self.loop: asyncio.AbstractEventLoop | None = None  # set once started
        self.access_epoch = 0  # access notices seen so far

    async def ensure_started(self) -> None:
        """Join the channel layer once, inside this process's event loop. The process's other
        services (sweeper, signals) are chat/turns/lifecycle.py's, which builds on this."""
        if self._started:
            return
        self._started = True
        self.loop = asyncio.get_running_loop()
        if wire.crosses_processes():
            self.bridge = wire.Bridge(self.on_bridge_message)
            await self.bridge.start()

    def keep(self, task: asyncio.Task) -> None:
        """A process-long task, cancelled by shutdown()."""
        self._background.append(task)

    # --- sockets ---
    def attach(self, conversation_id: int, watcher: Watcher) -> tuple[int, str] | None:
        """Join first, then take the snapshot: in one synchronous step nothing can slip between."""
        first_here = not self.watchers.get(conversation_id)
        self.watchers[conversation_id].add(watcher)
        self.user_watchers[watcher.user_id].add(watcher)
        turn = self.turns.get(conversation_id)
        if turn is not None and turn.message_id is not None:
            seq, html, viewer_html = turn.snapshot_html()
            return seq, viewer_html if watcher.read_only else html
        if self.bridge is not None:
            if first_here:
                self.bridge.join(wire.watch_group(conversation_id))
            # A turn may run in another process: ask it for a snapshot for this socket.
            watcher.floor = PENDING
            self.bridge.group_send(
                wire.turn_group(conversation_id),
                wire.Watch(
                    conversation=conversation_id,
                    reply_to=self.bridge.channel or "",
                    socket=watcher.socket_key,
                ),
            )
        return None

    def detach(self, conversation_id: int, watcher: Watcher) -> None:
        self.watchers[conversation_id].discard(watcher)
        self.user_watchers[watcher.user_id].discard(watcher)
        if not self.watchers[conversation_id]:
            del self.watchers[conversation_id]
            if self.bridge is not None:
                self.bridge.leave(wire.watch_group(conversation_id))
                self.bridge.group_send(
                    wire.turn_group(conversation_id),
                    wire.Unwatch(conversation=conversation_id, reply_to=self.bridge.channel or ""),
                )
        if not self.user_watchers[watcher.user_id]:
            del self.user_watchers[watcher.user_id]

    def broadcast(
        self, conversation_id: int, seq: int, html: str, viewer_html: str | None = None
    ) -> None:
        for watcher in list(self.watchers.get(conversation_id, ())):
            watcher.deliver(seq, for_watcher(watcher, html, viewer_html))

    def needs_viewer_version(self, conversation_id: int) -> bool:
        """Whether frames with write controls need their read-only version rendered too: a
        read-only socket here watches the conversation, or other processes may have one."""
        if self.bridge is not None:
            return True
        return any(watcher.read_only for watcher in self.watchers.get(conversation_id, ()))

    def notify_user(self, user_id: int, html: str) -> None:
        for watcher in list(self.user_watchers.get(user_id, ())):
            watcher.deliver(0, html)  # seq 0: not part of any turn's sequence, never dropped

    def show_conversation_event(self, event: wire.ConversationEvent) -> None:
        """A rename, archive or delete, shown in this process's tabs (seq 0: never dropped)."""
        if event.watcher_html:
            self.broadcast(event.conversation, 0, event.watcher_html, event.viewer_html)
        for user_id in event.users:
            owner = event.owner and user_id == event.owner
            html = event.owner_html if owner else event.user_html
            if html:
                self.notify_user(user_id, html)

    # --- the channel layer side ---
    # --- access withdrawn while sockets are open ---
    def access_changed(self, *, conversations: list[int], users: list[int]) -> None:
        """Re-check the sockets here that it may concern, then tell every other process."""
        origin = (self.bridge.channel or "") if self.bridge is not None else ""
        notice = wire.AccessChanged(conversations=conversations, users=users, origin=origin)
        self.recheck_access(notice)
        if self.bridge is not None:
            self.bridge.group_send(wire.ACCESS_GROUP, notice)

    def recheck_access(self, notice: wire.AccessChanged) -> None:
        self.access_epoch += 1  # a socket checked before this but attached after re-checks
        concerned: set[Watcher] = set()
        for conversation_id in notice.conversations:
            concerned.update(self.watchers.get(conversation_id, ()))
        for user_id in notice.users:
            concerned.update(self.user_watchers.get(user_id, ()))
        for watcher in concerned:
            watcher.recheck()

    def on_bridge_message(self, message: wire.AnyMessage) -> None:
        if isinstance(message, wire.AccessChanged):
            if self.bridge is None or message.origin != self.bridge.channel:
                self.recheck_access(message)
            return
        conversation_id = message.conversation
        turn = self.turns.get(conversation_id)
        if isinstance(message, wire.ConversationEvent):
            if self.bridge is None or message.origin != self.bridge.channel:
                self.show_conversation_event(message)
        elif isinstance(message, wire.Watch):
            if turn is not None and turn.message_id is not None and self.bridge is not None:
                turn.remote.add(message.reply_to)
                seq, html, viewer_html = turn.snapshot_html()
                self.bridge.send(
                    message.reply_to,
                    wire.Snapshot(
                        conversation=conversation_id,
                        socket=message.socket,
                        seq=seq,
                        html=html,
                        viewer_html=viewer_html,
                    ),  # fmt: skip
                )
        elif isinstance(message, wire.Unwatch):
            if turn is not None:
                turn.remote.discard(message.reply_to)
        elif isinstance(message, wire.Cancel):
            self.cancel(conversation_id)
        elif turn is not None:
            return  # our own turn: local sockets already have everything
        elif isinstance(message, wire.TurnStarted):
            for watcher in list(self.watchers.get(conversation_id, ())):
                watcher.floor = PENDING
                watcher.deliver(0, for_watcher(watcher, message.html, message.viewer_html))
            if self.bridge is not None and self.watchers.get(conversation_id):
                self.bridge.group_send(
                    wire.turn_group(conversation_id),
                    wire.Watch(
                        conversation=conversation_id, reply_to=self.bridge.channel or "", socket="*"
                    ),
                )
        elif isinstance(message, wire.Snapshot):
            for watcher in list(self.watchers.get(conversation_id, ())):
                if message.socket in ("*", watcher.socket_key):
                    html = for_watcher(watcher, message.html, message.viewer_html)
                    watcher.deliver_snapshot(message.seq, html)
        elif isinstance(message, wire.Frame):
            self.broadcast(conversation_id, message.seq, message.html, message.viewer_html)
        elif isinstance(message, wire.Ended):
            self.broadcast(conversation_id, 0, message.html, message.viewer_html)

    # --- turns ---
    def is_live(self, conversation_id: int) -> bool:
        return conversation_id in self.turns

    async def start(self, plan: TurnPlan) -> StartedTurn:
        """Start a turn as a task of the registry; returns once its rows are written."""
        assert plan.conversation_id is not None
        conversation_id = plan.conversation_id
        if not self.accepting:
            raise TurnRejected(
                "This server is restarting; please send your message again in a moment."
            )
        if conversation_id in self.turns:
            raise TurnRejected("A reply is still being written in this conversation.")
        await self.ensure_started()
        turn = LiveTurn(self, plan, conversation_id)
        self.turns[conversation_id] = turn
        config = await endpoint.upstream_config()
        turn.runner = TurnRunner(
            plan=plan, config=config, publisher=turn, on_shown=turn.on_shown,
            on_started=turn.on_started,
        )  # fmt: skip
        turn.task = asyncio.create_task(self._run(turn), name=f"turn-{conversation_id}")
        return await asyncio.shield(turn.started)

    async def resume(
        self,
        message: Message,
        *,
        lease_owner: str,
        plan: TurnPlan | None = None,
        then_input: list[dict[str, Any]] | None = None,
    ) -> None:
        """Go on with a background-mode turn whose runner died (claimed by the sweeper), or
        (given `then_input`) start the next round of an ended message (chat/tools/approval.py)."""
        conversation_id = message.conversation_id
        if conversation_id in self.turns:
            return
        if plan is None:
            plan = await sync_to_async(resume_plan)(message=message)
            if conversation_id in self.turns:
                return  # taken while the history was read
        turn = LiveTurn(self, plan, conversation_id)
        turn.message_id = message.pk
        turn.rendered_items = len(message.items or [])
        resume = Resume(
            message_id=message.pk, conversation_id=conversation_id, lease_owner=lease_owner,
            response_id=message.response_id, last_seq=message.last_seq, items=message.items or [],
            model=message.model, first_event_at=message.first_event_at,
            first_token_at=message.first_token_at, rounds=message.rounds or [],
            then_input=then_input,
        )  # fmt: skip
        config = await endpoint.upstream_config()
        turn.runner = TurnRunner(plan=plan, config=config, publisher=turn, resume=resume)
        if resume.last_seq is None and then_input is None:
            turn.rendered_items = 0
        self.turns[conversation_id] = turn
        seq, html, viewer_html = turn.snapshot_html()
        for watcher in self.watchers.get(conversation_id, ()):
            watcher.deliver_snapshot(seq, for_watcher(watcher, html, viewer_html))
        if self.bridge is not None:
            self.bridge.join(wire.turn_group(conversation_id))
            self.bridge.group_send(
                wire.watch_group(conversation_id),
                wire.TurnStarted(conversation=conversation_id, html=html, viewer_html=viewer_html),
            )
        turn.started.set_result(StartedTurn(conversation_id, 0, message.pk))
        turn.task = asyncio.create_task(self._run(turn), name=f"turn-{conversation_id}-resumed")

    async def _run(self, turn: LiveTurn) -> None:
        assert turn.runner is not None
        try:
            await turn.runner.run()
        except BaseException as exc:
            if not turn.started.done():
                turn.started.set_exception(
                    exc if isinstance(exc, Exception) else RuntimeError("turn cancelled")
                )
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.exception("turn in conversation %s failed", turn.conversation_id)
        finally:
            self.turns.pop(turn.conversation_id, None)
            await self._announce_end(turn)
            self._after_turn(turn)

    def _after_turn(self, turn: LiveTurn) -> None:
        """Run the hooks (automatic titles) as tasks of their own: the turn is over already."""
        if turn.message_id is None:
            return
        for hook in turn_end_hooks:
            task = asyncio.create_task(hook(turn.conversation_id, turn.message_id))
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)

    async def _announce_end(self, turn: LiveTurn) -> None:
        if turn.message_id is None or turn.runner is None:
            return
        written = turn.runner.started is not None  # else shown, never written: taken back
        if written:
            message = turn.runner.stored or await sync_to_async(_stored_message)(turn.message_id)
            viewers = self.needs_viewer_version(turn.conversation_id)
            html, viewer_html = frames.ended_frames(message, viewers=viewers)
            announcement = turn._announcement(turn.runner.state, final=True)
        with write_pass():  # the end and the sidebar's dot: one message a socket
            if written:
                turn.send_everywhere(
                    turn.runner.seq + 1,
                    html + announcement,
                    None if viewer_html is None else viewer_html + announcement,
                )
            else:
                self.show_ended(turn.conversation_id, turn.retraction())
            self.notify_user(
                turn.plan.user_id, frames.sidebar_dot_frame(turn.conversation_id, False)
            )
        if self.bridge is not None:
            self.bridge.leave(wire.turn_group(turn.conversation_id))

    def announce_stored(self, message: Message) -> None:
        """A turn ended elsewhere (the sweeper marked it): show every watcher how it ended."""
        self.show_ended(message.conversation_id, *frames.ended_frames(message))

    def show_ended(self, conversation_id: int, html: str, viewer_html: str | None = None) -> None:
        """How a turn ended, to every watcher here and in the other processes (seq 0)."""
        self.broadcast(conversation_id, 0, html, viewer_html)
        if self.bridge is not None:
            self.bridge.group_send(
                wire.watch_group(conversation_id),
                wire.Ended(conversation=conversation_id, html=html, viewer_html=viewer_html),
            )

    def cancel(self, conversation_id: int) -> bool:
        turn = self.turns.get(conversation_id)
        if turn is None or turn.runner is None:
            return False
        turn.runner.cancel()
        return True

    async def cancel_anywhere(self, conversation_id: int) -> bool:
        """Stop the turn here, or ask the process that runs it; False if nothing is live."""
        if self.cancel(conversation_id):
            return True
        live = await sync_to_async(
            Message.objects.filter(
                conversation_id=conversation_id, status__in=Message.LIVE_STATUSES
            ).exists
        )()
        if live and self.bridge is not None:
            self.bridge.group_send(
                wire.turn_group(conversation_id), wire.Cancel(conversation=conversation_id)
            )
        return live and self.bridge is not None

    async def shutdown(self, drain: float, grace: float = 5.0) -> None:
        """Stop taking turns; let running ones finish for `drain` s, then save them as interrupted."""
        self.accepting = False
        tasks = [t.task for t in self.turns.values() if t.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=drain)
        for turn in list(self.turns.values()):
            if turn.runner is not None:
                turn.runner.cancel(interrupt=True)
        tasks = [t.task for t in self.turns.values() if t.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        for task in self._background:
            task.cancel()
        if self.bridge is not None:
            await self.bridge.stop()
        await close_shared_client()


def _stored_message(message_id: int) -> Message:
    return Message.objects.prefetch_related("usage_records").get(pk=message_id)


_registry: TurnRegistry | None = None


def registry() -> TurnRegistry:
    """The process's registry (one event loop per server process)."""
    global _registry
    if _registry is None:
        _registry = TurnRegistry()
    return _registry
