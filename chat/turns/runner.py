"""TurnRunner: runs one turn from the person's message to the stored answer.

Used by `manage.py ask` and by the web's turn registry alike. It opens the upstream stream
before the first rows are written (a write first would add to time to first token): with
their ids taken ahead it shows them at once and writes them after the first frame, else it
writes them beside the request. It feeds the pure accumulator, publishes coalesced frames on
the leading edge, checkpoints the partial answer at most every few seconds, and stores the
final answer and usage at the end.
"""

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from chat import context, images
from chat.conversation_settings import effective
from chat.models import Message
from chat.socket_writer import write_pass
from chat.tools.registry import enabled_tools
from chat.turns.final_save import store_final, uncancellable
from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.resume import Resume
from chat.turns.save import checkpoint_turn
from chat.turns.snapshot import TurnSnapshot, snapshot_of
from chat.turns.start import start_turn
from chat.turns.state import Changes, TurnState
from chat.turns.ticker import FlushTick, flush_tick
from chat.turns.tool_rounds import ToolRounds
from chat.upstream.client import UpstreamConfig, cancel_response, resume_stream, stream_response
from chat.upstream.errors import UpstreamError, redact

log = logging.getLogger(__name__)
ROWS_WRITTEN_WITHIN = 0.05  # s after the request at the latest, if no frame came first
PROCESS_ID = f"proc-{uuid.uuid4().hex[:12]}"


class Publisher(Protocol):
    def publish(self, seq: int, state: TurnState, changes: Changes) -> None:
        """Deliver one coalesced frame; must not block (schedule any I/O)."""


class NullPublisher:
    def publish(self, seq: int, state: TurnState, changes: Changes) -> None:
        pass


class TurnRunner(ToolRounds):
    def __init__(
        self,
        *,
        plan: TurnPlan,
        config: UpstreamConfig,
        publisher: Publisher | None = None,
        flush_interval: float | None = None,
        on_shown: Callable[[StartedTurn], None] | None = None,
        on_started: Callable[[StartedTurn], None] | None = None,
        resume: "Resume | None" = None,
    ) -> None:
        self.plan = plan
        self.config = config
        self.publisher = publisher or NullPublisher()
        self.on_shown = on_shown  # the new rows may be shown: frames can name them
        self.on_started = on_started  # the new rows are written
        self.flush_interval = (
            settings.CHAT_FLUSH_INTERVAL if flush_interval is None else flush_interval
        )
        # The window widens under load up to this cap (chat/turns/ticker.py).
        self.widest_flush_interval = max(self.flush_interval, settings.CHAT_FLUSH_INTERVAL_MAX)
        self.checkpoint_interval = settings.CHAT_CHECKPOINT_INTERVAL
        self.resume = resume
        self.lease_owner = resume.lease_owner if resume else f"{PROCESS_ID}-{uuid.uuid4().hex[:8]}"
        self.state = resume.state() if resume else TurnState()
        if plan.left_out:  # shown with the answer, and kept with it (chat/context.py)
            self.state.guard.warn("context", context.Fitted([], plan.left_out).note)
        self.started: StartedTurn | None = None  # the rows, once written
        # The rows as frames name them: from the plan's ids, before they are written
        # (chat/turns/ids.py); else once they are.
        self.shown: StartedTurn | None = None
        self.stored: Message | None = None  # the final row, as finish_turn saved it
        self.seq = 0
        self.first_event_at = resume.first_event_at if resume else None
        self.first_token_at = resume.first_token_at if resume else None
        self._task: asyncio.Task[Any] | None = None
        self._write: asyncio.Task[StartedTurn] | None = None  # the first rows, being written
        self._cancel_requested = False
        self._ending = False  # the stream is over: the end is being stored, nothing may stop it
        self._interrupt = False
        self._write_failed: BaseException | None = None
        self._last_flush = -1e9
        # The slot of the process's flush clock this turn's next frame waits in (ticker.py).
        self._flush_slot: dict[Callable[[], None], None] | None = None
        self._flush_cb = self._flush
        self._tick: FlushTick | None = None  # the process's flush clock, while streaming
        self._checkpoint_due = 0.0  # loop time; 0 = at the first chance
        self._checkpoint: asyncio.Task[Any] | None = None
        self.chosen = _chosen(plan)
        self.tools = {
            name: tool
            for name, tool in enabled_tools().items()
            if name not in self.chosen.tools_off and self.chosen.info.tools
        }
        self.tool_rounds = 0
        # The max_output_tokens the last request sent: a round that used them all was cut.
        self.output_limit: int | None = self.chosen.max_output_tokens or None
        self._answering = False  # the tools of a round are running

    # --- control ---
    def cancel(self, *, interrupt: bool = False) -> bool:
        """Stop: closes the upstream stream at once and saves the partial answer as cancelled
        (or as interrupted, when the process is shutting down rather than a person asking).

        The turn's end has one owner, its own task: only the first request, made while the
        stream still runs, counts. A second Stop, a Stop racing the final event, or one
        arriving during the final save changes nothing (False), so it can never cut that
        save short and leave the answer `streaming`."""
        if self._cancel_requested or self._ending:
            return False
        self._cancel_requested = True
        self._interrupt = interrupt
        if self._task is not None and not self._task.done():
            self._task.cancel()
        return True

    def flush_pending(self) -> None:
        """Publish the changes waiting for the flush clock now (before a snapshot is taken)."""
        if self._flush_slot is not None:
            self._flush()

    def snapshot(self) -> TurnSnapshot:
        return snapshot_of(
            self.state, first_event_at=self.first_event_at, first_token_at=self.first_token_at
        )

    # --- the turn ---
    async def run(self) -> TurnSnapshot:
        self._task = asyncio.current_task()
        self._begin()
        heartbeat = asyncio.create_task(self._heartbeat())
        cancelled = False
        self._tick = flush_tick(self.flush_interval, self.widest_flush_interval)
        self._tick.join()  # counted live while it streams: the window widens with the load
        try:
            if self._cancel_requested:
                raise asyncio.CancelledError  # stopped before it began: no upstream request
            await self._stream()
        except asyncio.CancelledError:
            cancelled = True
            # Between rounds the state says `completed` (its last round did), not the turn:
            # a round that ended with calls to answer is not the turn's end, so Stop counts.
            goes_on = self._answering or bool(self._calls_to_answer())
            if self._write_failed is None and (not self.state.is_final or goes_on):
                if self._interrupt:
                    self.state.interrupt()
                else:
                    self.state.cancel()
        finally:
            self._ending = True
            self._tick.leave()
            heartbeat.cancel()
        try:
            write = self._write_rows()  # not yet begun if no frame went out
            self.started = await write if write is not None else self.started
        except BaseException:
            log.exception("could not store the start of the turn; upstream request cancelled")
            raise
        await uncancellable(self._finish())
        if cancelled and not self._cancel_requested:
            raise asyncio.CancelledError  # someone else (Ctrl-C, shutdown) cancelled us
        if cancelled and self._task is not None:
            self._task.uncancel()
        return self.snapshot()

    def _begin(self) -> None:
        """Show the new rows at once where their ids were taken ahead (chat/turns/ids.py) and
        write them after the first frame: begun beside the upstream request, the write held
        the GIL in the database thread while the response head waited for the event loop
        (bench/README.md, issue 12). Else write them beside the request, and show them once
        written. A resumed turn has its rows."""
        if self.resume is not None:
            self.started = StartedTurn(self.resume.conversation_id, 0, self.resume.message_id)
            self.shown = self.started
            return
        reserved = self.plan.reserved()
        if reserved is None:
            self._write_rows()
        else:  # once the request is on its way: rendering the rows need not delay it
            loop = asyncio.get_running_loop()
            loop.call_soon(self._show, reserved)
            # A slow upstream (a queue, a long think) must not leave them unwritten: a crash
            # would lose the question, and Stop from another process would not find the turn.
            loop.call_later(ROWS_WRITTEN_WITHIN, self._write_rows)

    def _write_rows(self) -> "asyncio.Task[StartedTurn] | None":
        """The task writing the first rows, begun by the first call (None: a resumed turn)."""
        if self._write is None and self.resume is None:
            self._write = asyncio.create_task(
                sync_to_async(start_turn)(plan=self.plan, lease_owner=self.lease_owner)
            )
            self._write.add_done_callback(self._on_write_done)
        return self._write

    def _show(self, turn: StartedTurn) -> None:
        self.shown = turn
        with write_pass():  # the new rows and the first text: one message a socket
            if self.on_shown is not None:
                self.on_shown(turn)
            self._flush()  # what arrived before the rows could be named

    def _on_write_done(self, write: asyncio.Task[Any]) -> None:
        if write.cancelled() or write.exception() is None:
            if not write.cancelled():
                self.started = write.result()
                if self.shown is None:
                    self._show(self.started)
                if self.on_started is not None:
                    self.on_started(self.started)
            return
        self._write_failed = write.exception()
        if self._task is not None and not self._task.done() and not self._ending:
            self._task.cancel()  # no row to save into: stop the upstream request

    async def _stream(self) -> None:
        """Round after round: while a round ends with function calls, answer them and ask
        again, into the same message (DESIGN: a turn is one or more rounds)."""
        if self.resume is not None and self.resume.then_input is None:
            events = resume_stream(
                self.resume.response_id, starting_after=self.state.last_seq, config=self.config
            )
        else:
            events = stream_response(self._request_body(), config=self.config)
        while True:
            await self._stream_round(events)
            self.state.cut_at_length(self.output_limit)
            calls = self._calls_to_answer()
            if not calls:
                return
            if self.tool_rounds >= settings.CHAT_MAX_TOOL_ROUNDS:
                self.state.stop_early(
                    "max_tool_rounds",
                    f"Stopped after {self.tool_rounds} rounds of tool calls (the limit).",
                )
                return
            await self._answer(calls)
            self.tool_rounds += 1
            self.state.begin_round()
            self._flush()
            self._checkpoint_due = 0.0  # the next round's first event saves the rounds so far
            events = stream_response(self._request_body(), config=self.config)

    async def _stream_round(self, events: Any) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for event in events:
                if self.first_event_at is None:
                    self.first_event_at = timezone.now()
                structural = self.state.apply(event)
                if self.first_token_at is None and self.state.text:
                    self.first_token_at = timezone.now()
                    structural = True  # the first token goes out at once
                    self._checkpoint_due = 0.0  # and is saved at once: the row shows it streaming
                self._after_event(loop.time(), structural)
            if not self.state.is_final:
                self.state.fail(
                    "stream_cut", "The model server ended the stream without a final status."
                )
        except UpstreamError as err:
            self.state.fail(err.error_code, err.message)
        finally:
            await events.aclose()

    def _after_event(self, now: float, structural: bool) -> None:
        tick = self._tick
        assert tick is not None  # set by run() before the first event
        window = tick.window  # 30 ms, wider when many turns are live (ticker.py)
        if structural or now - self._last_flush >= window:
            # At once, but after the events of the same read: one frame for all of them.
            slot = tick.soon(self._flush_cb)
            if self._flush_slot is not None and self._flush_slot is not slot:
                self._flush_slot.pop(self._flush_cb, None)  # it was waiting for the window
            self._flush_slot = slot
        elif self._flush_slot is None:
            self._flush_slot = tick.at(self._last_flush + window, self._flush_cb)
        if self.started is not None and self._checkpoint is None and now >= self._checkpoint_due:
            self._checkpoint_due = now + self.checkpoint_interval
            self._checkpoint = asyncio.create_task(self._save_checkpoint())

    def _flush(self) -> None:
        """Publish what changed since the last frame (leading edge: at once if quiet)."""
        if self._flush_slot is not None:
            self._flush_slot.pop(self._flush_cb, None)
            self._flush_slot = None
        if self.shown is None:
            return  # frames need the message id: changes wait in the state until then
        changes = self.state.take_changes()
        if not changes:
            return
        self._last_flush = asyncio.get_running_loop().time()
        self.seq += 1
        try:
            self.publisher.publish(self.seq, self.state, changes)
        except Exception:
            log.exception("publishing frame %d failed", self.seq)
        if self._write is None and self.started is None:
            self._write_rows()  # the first frame is out: now the rows (see _begin)

    async def _heartbeat(self) -> None:
        """Renew the lease even while the upstream is silent, so the sweeper leaves us be."""
        while True:
            await asyncio.sleep(settings.TURN_LEASE_SECONDS / 3)
            if self.started is not None and self._checkpoint is None:
                self._checkpoint = asyncio.create_task(self._save_checkpoint())

    async def _save_checkpoint(self) -> None:
        assert self.started is not None
        try:
            await sync_to_async(checkpoint_turn)(
                message_id=self.started.assistant_message_id,
                snapshot=self.snapshot(),
                lease_owner=self.lease_owner,
            )
        except Exception:
            log.exception("checkpoint failed; the turn goes on")
        finally:
            self._checkpoint = None

    async def _store_images(self) -> None:
        """Images go to storage, a reference onto their item; a failure loses only them."""
        assert self.started is not None
        try:
            await images.store_turn_images(
                self.state,
                message_id=self.started.assistant_message_id,
                conversation_id=self.started.conversation_id,
            )
        except Exception:
            log.exception("could not store the generated images; the answer is saved without")

    async def _finish(self) -> None:
        assert self.started is not None
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self.state.status == "cancelled" and self.state.background and self.state.response_id:
            await cancel_response(self.state.response_id, config=self.config)
        await self._store_images()
        self._flush()
        input_chars = sum(len(str(item.get("content", ""))) for item in self.plan.input)
        log.info(
            "turn ended conversation=%s message=%s status=%s model=%s response=%s events=%d frames=%d error=%s",
            self.started.conversation_id, self.started.assistant_message_id, self.state.status,
            self.state.model or self.plan.model, self.state.response_id, self.state.events,
            self.seq, self.state.error_code or "-",
        )  # fmt: skip
        if self.state.error_detail:  # the server's own words: never shown, logged redacted
            detail = redact(self.state.error_detail, [self.config.api_key])
            log.warning("upstream error message=%s: %s", self.started.assistant_message_id, detail)
        self.stored = await store_final(
            message_id=self.started.assistant_message_id,
            snapshot=self.snapshot,
            input_chars=input_chars,
            lease_owner=self.lease_owner,
            requested_model=self.plan.model,
        )


def _chosen(plan: TurnPlan) -> effective.ChatSettings:
    """The turn's settings: as planned (and recorded on the answer), else the defaults."""
    if plan.settings:
        return effective.of(plan.settings)
    chosen = effective.defaults()
    return effective.with_model(chosen, plan.model) if plan.model else chosen
