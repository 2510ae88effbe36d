"""The conversation socket: authorise, validate, delegate to the registry, forward frames.

It never owns a stream: a turn belongs to the registry, and a closing socket only stops
watching.
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections
from pydantic import ValidationError

from accounts.models import ReviewLog
from chat import branches, permissions
from chat.commands import (
    MAX_FRAME_BYTES,
    ApproveTool,
    Continue,
    Edit,
    Retry,
    Send,
    Stop,
    Switch,
    command_adapter,
)
from chat.models import Conversation, Message, shown_leaf_id
from chat.socket_writer import SocketWriter, write_pass
from chat.tools import approval
from chat.turns import continuation, endpoint, frames, lifecycle
from chat.turns.plan import TurnRejected, plan_turn
from chat.turns.registry import registry
from chat.turns.reopen import Claimed
from chat.turns.runner import PROCESS_ID
from chat.usage.present import budget_notice_frame

log = logging.getLogger(__name__)
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN = 1013  # htmx's ws extension reconnects after this code
T = TypeVar("T")
SERVER_SEND = "chat.server_send"  # scope key: the server's send, set by chat.routing.KeepServerSend
READ_ONLY = "This conversation is read only: you can follow it, but not send, stop or retry."
REVOKED = "You no longer have access to this conversation, so it stopped updating here."


class ConversationConsumer(AsyncWebsocketConsumer):
    # Frames reach sockets straight from the registry; only chat/turns/bridge.py uses the
    # channel layer. Without a layer a socket costs no channel, queue, listener task or (with
    # Redis) SUBSCRIBE of its own.
    channel_layer_alias = "sockets-need-no-channel-layer"

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.conversation_id = int(self.scope["url_route"]["kwargs"]["conversation_id"])
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        epoch = registry().access_epoch
        access = await _may_use(user, self.conversation_id)
        if access is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.read_only = access.read_only  # a team share or a staff review: watch, never command
        self.user = user
        self.user_id = user.pk
        self.socket_key = uuid.uuid4().hex
        self.floor: float = 0
        self._recheck: asyncio.Task[None] | None = None
        self._recheck_due = False
        self.revoked = False
        await self.accept()
        # Frames go straight to the server's send, around the middleware (chat/routing.py).
        self.out = SocketWriter(self.scope.get(SERVER_SEND) or self.base_send)
        await lifecycle.start_services()  # started with the server already, if it could
        latest = await _latest_answer(self.conversation_id)
        # No await from here on: a snapshot from another process can only come after attach.
        # One pass: the frame the attach flushes (chat/turns/live.py) and the snapshot go out
        # as one message, so the tab's first message shows the answer as it stands.
        with write_pass():
            self._attach(epoch, latest)

    def _attach(self, epoch: int, latest: Message | None) -> None:
        attached = registry().attach(self.conversation_id, self)
        if registry().access_epoch != epoch:
            self.recheck()  # access changed between our check and the attach: check again
        if attached is not None:
            self.deliver_snapshot(*attached)
        elif latest is not None:
            # The page may have been rendered while a turn was live; show how it stands now.
            self._queue(
                frames.stored_message_frame(latest, read_only=self.read_only)
                + frames.turn_controls_frame(latest.is_live, read_only=self.read_only)
            )

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "out"):
            return
        if not self.revoked:
            registry().detach(self.conversation_id, self)
        self.out.close()

    # --- access withdrawn while open (chat/revocation.py) ---
    def recheck(self) -> None:
        if self.revoked:
            return
        self._recheck_due = True  # a notice during a check runs it again: no stale answer
        if self._recheck is None or self._recheck.done():
            self._recheck = asyncio.create_task(self._check_access())

    async def _check_access(self) -> None:
        access: permissions.Access | None = None
        try:
            while self._recheck_due:
                self._recheck_due = False
                access = await _access_now(self.user_id, self.conversation_id)
        except Exception:
            # Fail closed, but not for good: 1013 (try again later) makes the tab reconnect,
            # and a connect checks access afresh.
            log.exception("access re-check failed; the socket is closed to reconnect")
            self.revoked = True
            registry().detach(self.conversation_id, self)
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        if access is not None:
            self.read_only = access.read_only
            return
        # Out of the relay at once (no await before): not one more frame reaches this socket.
        self.revoked = True
        registry().detach(self.conversation_id, self)
        self.out.close()
        notice = frames.turn_controls_frame(live=False, read_only=True)
        await self.out.send(
            {"type": "websocket.send", "text": notice + frames.composer_error_frame(REVOKED)}
        )
        await self.close(code=CLOSE_FORBIDDEN)

    # --- frames out ---
    def deliver(self, seq: int, html: str) -> None:
        if seq and seq <= self.floor:
            return  # the snapshot this socket rendered already has it
        self._queue(html)

    def deliver_snapshot(self, seq: int, html: str) -> None:
        self.floor = seq
        self._queue(html)

    def _queue(self, html: str) -> None:
        self.out.queue(html)  # written now, or at the end of the pass (chat/socket_writer.py)

    # --- commands in ---
    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.receive":
            # Channels would hop to a thread to close old database connections before every
            # command; the command's own database hop does that instead (_in_db_thread), which
            # takes a thread hop off the path between the person's send and the upstream request.
            await self.websocket_receive(message)
        else:
            await super().dispatch(message)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.read_only:
            self._error(READ_ONLY)
            return
        if text_data is None or len(text_data) > MAX_FRAME_BYTES:
            self._error("That message is too large to send.")
            return
        try:
            command = command_adapter.validate_json(text_data)
        except ValidationError as exc:
            self._error(_explain(exc))
            return
        if isinstance(command, Stop):
            if await _access_now(self.user_id, self.conversation_id) is None:
                self._error(REVOKED)  # access withdrawn a moment ago; the notice is under way
            elif not await registry().cancel_anywhere(self.conversation_id):
                self._error("There is no answer being written to stop.")
        elif isinstance(command, Send):
            await self._start(command.message, reset_composer=True)
        elif isinstance(command, Retry):
            await self._start("", reset_composer=False, regenerate=command.message)
        elif isinstance(command, Edit):
            await self._start(command.text, reset_composer=False, edit_of=command.message)
        elif isinstance(command, Switch):
            await self._switch(command.message)
        elif isinstance(command, ApproveTool):
            await self._approve(command)
        elif isinstance(command, Continue):
            await self._continue(command)

    async def _start(
        self,
        text: str,
        *,
        reset_composer: bool,
        regenerate: int | None = None,
        edit_of: int | None = None,
    ) -> None:
        try:
            endpoint.warm()  # its connect overlaps the plan's database work
            plan = await _in_db_thread(plan_turn)(
                user=self.user,
                conversation_id=self.conversation_id,
                text=text,
                model=settings.CHAT_MODEL,
                regenerate=regenerate,
                edit_of=edit_of,
            )
            await registry().start(plan)
        except TurnRejected as exc:
            self._error(str(exc))
            return
        except Exception:
            log.exception("could not start a turn in conversation %s", self.conversation_id)
            self._error("The answer could not be started. Please try again.")
            return
        reset = (
            frames.composer_reset_frame(settings.CHAT_MAX_MESSAGE_CHARS) if reset_composer else ""
        )
        notice = budget_notice_frame(plan.budget_warning)  # its own line: errors get cleared
        self._queue(reset + frames.composer_error_frame("") + notice)

    async def _switch(self, message_id: int) -> None:
        """Show another version in every tab (chat/branches.py); never under a live answer."""
        if registry().is_live(self.conversation_id):
            self._error("An answer is being written; switch versions once it is done (or stop it).")
            return
        try:
            await _in_db_thread(branches.switch_and_show)(
                user=self.user, conversation_id=self.conversation_id, message_id=message_id
            )
        except branches.BranchRefused as exc:
            self._error(str(exc))
            return
        self._queue(frames.composer_error_frame(""))

    async def _approve(self, command: ApproveTool) -> None:
        """The answer to an MCP approval request starts the next round of that message."""
        await self._next_round(
            approval.claim, message_id=command.message, request_id=command.request,
            approve=command.approve == "true",
        )  # fmt: skip

    async def _continue(self, command: Continue) -> None:
        """Continue: the incomplete answer goes on as one more round of the same message."""
        await self._next_round(continuation.claim, message_id=command.message)

    async def _next_round(self, claim: Callable[..., Claimed], **fields: Any) -> None:
        """Claim an ended answer (chat/turns/reopen.py) and run its next round in every tab."""
        if registry().is_live(self.conversation_id):
            self._error("A reply is still being written in this conversation.")
            return
        try:
            claimed = await _in_db_thread(claim)(
                user=self.user, conversation_id=self.conversation_id,
                lease_owner=f"{PROCESS_ID}-{uuid.uuid4().hex[:8]}", **fields,
            )  # fmt: skip
            await registry().resume(
                claimed.message, lease_owner=claimed.lease_owner, plan=claimed.plan,
                then_input=claimed.then_input,
            )  # fmt: skip
        except TurnRejected as exc:
            self._error(str(exc))
            return
        self._queue(frames.composer_error_frame(""))

    def _error(self, message: str) -> None:
        self._queue(frames.composer_error_frame(message))


def _in_db_thread(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """sync_to_async that first drops unusable or expired connections, as Channels would."""

    def run(*args: Any, **kwargs: Any) -> T:
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(run)


def _explain(exc: ValidationError) -> str:
    first: dict[str, Any] = exc.errors()[0]
    if first["type"] == "json_invalid":
        return "The browser sent something that is not JSON."
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return (
            "Unknown command: expected send, stop, retry, edit, switch, approve_tool or continue."
        )
    if first["type"] == "string_too_long":
        return "That message is too long to send."
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"Bad command ({where}: {first['msg']})."


@sync_to_async
def _may_use(user: Any, conversation_id: int) -> permissions.Access | None:
    """The socket's access (chat/permissions.py), or None; a staff review is logged here."""
    conversation = Conversation.objects.select_related("owner").filter(pk=conversation_id).first()
    if conversation is None:
        return None
    return permissions.open_conversation(user, conversation, via=ReviewLog.Via.SOCKET)


@_in_db_thread
def _access_now(user_id: int, conversation_id: int) -> permissions.Access | None:
    """Access as it stands now, the account read afresh (a socket's user object is as it
    was at connect). Reviews are not logged again: the socket's was at connect."""
    user = get_user_model().objects.filter(pk=user_id).first()
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if user is None or conversation is None or not permissions.can_view(user, conversation):
        return None
    writes = permissions.can_write(user, conversation)
    review = permissions.is_review(user, conversation)
    return permissions.Access(read_only=not writes, review=review, shared=not writes and not review)


@sync_to_async
def _latest_answer(conversation_id: int) -> Message | None:
    """The answer at the end of the branch on screen (chat/tree.py), else the newest one."""
    answers = Message.objects.filter(
        conversation_id=conversation_id, role=Message.Role.ASSISTANT
    ).prefetch_related("usage_records")
    leaf = shown_leaf_id(conversation_id)
    shown = answers.filter(pk=leaf).first() if leaf is not None else None
    return shown or answers.order_by("-created_at", "-id").first()
