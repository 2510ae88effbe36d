"""One running turn as its watchers see it: the relay that renders the runner's frames once
and hands them to the sockets of this process and to the other processes watching."""

import asyncio
import math
import time
from typing import Protocol

from chat.presenters import STATUS_LABELS, MessageView, is_long_message
from chat.rendering import render_plain
from chat.tree import Nav
from chat.turns import bridge as wire
from chat.turns import frames
from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.runner import TurnRunner
from chat.turns.state import Changes, TurnState

ANNOUNCE_EVERY = 4.0  # seconds between screen-reader announcements of new text
PENDING = math.inf  # a socket waiting for its snapshot drops every sequenced frame


class Watcher(Protocol):
    user_id: int
    socket_key: str
    floor: float
    read_only: bool  # a viewer: frames with write controls come in their viewer version

    def deliver(self, seq: int, html: str) -> None:
        """Queue a frame; frames at or below the socket's floor are dropped (seq 0: always)."""

    def deliver_snapshot(self, seq: int, html: str) -> None:
        """Render a snapshot and take its seq as the new floor."""

    def recheck(self) -> None:
        """Access may have been withdrawn: check it again (and close if it was)."""


class Relay(Protocol):
    """What a live turn needs of the process's registry (chat/turns/registry.py)."""

    watchers: dict[int, set[Watcher]]
    bridge: wire.Bridge | None

    def broadcast(
        self, conversation_id: int, seq: int, html: str, viewer_html: str | None = None
    ) -> None: ...

    def notify_user(self, user_id: int, html: str) -> None: ...

    def needs_viewer_version(self, conversation_id: int) -> bool: ...


class LiveTurn:
    """One running turn: its runner, and the relay that renders frames for its watchers."""

    def __init__(self, registry: Relay, plan: TurnPlan, conversation_id: int) -> None:
        self.registry = registry
        self.conversation_id = conversation_id
        self.plan = plan
        self.runner: TurnRunner | None = None
        self.message_id: int | None = None
        self.rendered_items = 0
        self.remote: set[str] = set()  # channels of other processes watching this turn
        self.task: asyncio.Task | None = None
        self.started = asyncio.get_running_loop().create_future()
        self._announced_chars = 0
        self._announced_at = time.monotonic()

    # --- Publisher protocol, called by the runner ---
    def publish(self, seq: int, state: TurnState, changes: Changes) -> None:
        assert self.message_id is not None
        html = frames.delta_frame(self.message_id, state, changes, self.rendered_items)
        self.rendered_items = len(state.items)
        html += self._announcement(state)
        self.send_everywhere(seq, html)

    def send_everywhere(self, seq: int, html: str, viewer_html: str | None = None) -> None:
        self.registry.broadcast(self.conversation_id, seq, html, viewer_html)
        bridge = self.registry.bridge
        frame = wire.Frame(
            conversation=self.conversation_id, seq=seq, html=html, viewer_html=viewer_html
        )
        for channel in self.remote:
            bridge.send(channel, frame)

    def _announcement(self, state: TurnState, final: bool = False) -> str:
        """Throttled text for the polite live region: new sentences every few seconds."""
        now = time.monotonic()
        if not final and now - self._announced_at < ANNOUNCE_EVERY:
            return ""
        fresh = state.text[self._announced_chars :]
        self._announced_chars = len(state.text)
        self._announced_at = now
        if final:
            return frames.announce_frame(f"{fresh} — answer {state.status}.".strip(" —"))
        return frames.announce_frame(fresh) if fresh.strip() else ""

    def on_shown(self, started: StartedTurn) -> None:
        """Show the new rows before the first frame can refer to them (same loop step); they
        may not be written yet (chat/turns/ids.py): `on_started` says when they are."""
        self.message_id = started.assistant_message_id
        rows, viewer_rows = self._new_rows(
            started, viewers=self.registry.needs_viewer_version(self.conversation_id)
        )
        html = rows + frames.turn_controls_frame(live=True)
        viewer_html = None
        if viewer_rows is not None:
            viewer_html = viewer_rows + frames.turn_controls_frame(live=True, read_only=True)
        for watcher in self.registry.watchers.get(self.conversation_id, ()):
            watcher.floor = 0  # they see this turn from its first frame: no snapshot to wait for
        self.registry.broadcast(self.conversation_id, 0, html, viewer_html)
        self.registry.notify_user(
            self.plan.user_id, frames.sidebar_dot_frame(self.conversation_id, True)
        )
        if self.registry.bridge is not None:
            self.registry.bridge.join(wire.turn_group(self.conversation_id))
            self.registry.bridge.group_send(
                wire.watch_group(self.conversation_id),
                wire.TurnStarted(
                    conversation=self.conversation_id, html=html, viewer_html=viewer_html
                ),
            )

    def on_started(self, started: StartedTurn) -> None:
        """The rows are written: the socket that asked may go on (its composer is reset)."""
        if not self.started.done():
            self.started.set_result(started)

    def retraction(self) -> str:
        """The frame that takes the rows back off every page: shown, but never written. Not
        live, so the same for writers and viewers (no Stop button)."""
        assert self.message_id is not None
        shown = [self.message_id]
        if self.plan.question_id is None and self.plan.ids:
            shown.insert(0, self.plan.ids[0])
        return frames.removed_rows_frame(tuple(shown)) + frames.turn_controls_frame(live=False)

    def _new_rows(self, started: StartedTurn, *, viewers: bool = True) -> tuple[str, str | None]:
        """The new question (none for a regenerate) and the queued answer, for writers and,
        if `viewers`, for read-only viewers (from one pair of views); a new version first
        takes the messages it replaces off the page (chat/tree.py)."""
        views = pending_views(started, self.plan)
        if self.plan.question_id is not None:
            views = views[1:]
        removed = frames.removed_rows_frame(self.plan.replaces)

        def rows(read_only: bool) -> str:
            return removed + "".join(
                frames.appended_message_frame(view, read_only=read_only) for view in views
            )

        return rows(False), rows(True) if viewers else None

    def snapshot_html(self) -> tuple[int, str, str]:
        """The seq the live message reflects, and the message as it is now, for writers and
        for read-only viewers (for attaching sockets)."""
        assert self.runner is not None and self.message_id is not None
        # Publish what is still waiting for its frame first, so that the seq returned covers
        # all the snapshot shows: else the next frame repeats it after the snapshot
        # (an attaching tab saw "000 001 001 002").
        self.runner.flush_pending()
        snapshot = self.runner.snapshot()
        html = frames.live_message_frame(self.message_id, snapshot, self.plan.model)
        return (
            self.runner.seq,
            html + frames.turn_controls_frame(live=True),
            html + frames.turn_controls_frame(live=True, read_only=True),
        )


def pending_views(started: StartedTurn, plan: TurnPlan) -> tuple[MessageView, MessageView]:
    """The person's message and the queued answer, built in memory (no query on the hot path)."""
    user_view = MessageView(
        id=started.user_message_id,
        role="user",
        status="completed",
        status_label="",
        live=False,
        items=[],
        user_html=render_plain(plan.text),
        user_long=is_long_message(plan.text),
        source_text=plan.text,
    )
    answer_view = MessageView(
        id=started.assistant_message_id,
        role="assistant",
        status="queued",
        status_label=STATUS_LABELS["queued"],
        live=True,
        items=[],
        model=plan.model,
    )
    # The new version of what it replaces: last of its siblings, its ‹ goes to the one before.
    if plan.older_siblings:
        count = len(plan.older_siblings) + 1
        nav = Nav(index=count, count=count, prev_id=plan.older_siblings[-1], next_id=None)
        (answer_view if plan.question_id is not None else user_view).nav = nav
    return user_view, answer_view


def for_watcher(watcher: Watcher, html: str, viewer_html: str | None) -> str:
    return viewer_html if viewer_html is not None and watcher.read_only else html
