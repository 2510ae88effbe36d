"""Writes for turns. Each function owns its transaction; async code calls each once per step."""

import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from chat import context, placement, sql, storable
from chat.conversation_settings import catalog, effective
from chat.models import Conversation, Message
from chat.tools import hosted
from chat.tools.registry import declarations, enabled_tools
from chat.tree import Tree
from chat.turns.replay import answer_input
from chat.turns.snapshot import TurnSnapshot
from chat.turns.state import TokenUsage
from chat.usage import budgets
from chat.usage.ledger import record_usage


class TurnRejected(Exception):
    """The turn cannot start; the message says why in words a person understands."""


@dataclass(frozen=True)
class TurnPlan:
    """Everything a turn needs before any write: who, where, and the input to send."""

    user_id: int
    conversation_id: int | None
    text: str
    model: str
    input: list[dict[str, Any]]
    hosted_tools: tuple[str, ...] = ()  # chat/tools/hosted.py: what this turn may use
    budget_warning: str = ""  # from 80 % of a monthly budget (chat/usage/budgets.py)
    left_out: int = 0  # earlier messages not sent, to fit the model (chat/context.py)
    # The effective settings (chat/conversation_settings/effective.py), copied onto the answer.
    settings: dict[str, Any] | None = None
    # Where the turn goes in the message tree (chat/tree.py): the parent of the new question
    # (None: a first question); for a regenerate, the question answered again (no new one).
    parent_id: int | None = None
    question_id: int | None = None
    replaces: tuple[int, ...] = ()  # messages on screen the new branch takes the place of
    older_siblings: tuple[int, ...] = ()  # of the new version (its ‹ button goes to the last)


@dataclass(frozen=True)
class StartedTurn:
    conversation_id: int
    user_message_id: int
    assistant_message_id: int


def plan_turn(
    *,
    user: Any,
    conversation_id: int | None,
    text: str,
    model: str,
    regenerate: int | None = None,
    edit_of: int | None = None,
) -> TurnPlan:
    """Validate and read the history (no writes: the upstream request starts right after).

    `regenerate`: an answer to write again as a sibling (its question is asked again, never
    duplicated); `edit_of`: a question to replace by `text` as a sibling. Both keep the old
    version, and the input is the branch above it; a plain send follows the branch on screen."""
    if regenerate is None:
        text = _checked_text(text)
    _check_rate(user.pk)
    history: list[dict[str, Any]] = []
    chosen, hosted_off = effective.defaults(), []
    place = placement.Place()
    if conversation_id is not None:
        rows = _history_rows(conversation_id, user.pk)
        if not rows:
            raise TurnRejected(f"Conversation {conversation_id} was not found.")
        if any(row.status in Message.LIVE_STATUSES for row in rows):
            raise TurnRejected("A reply is still being written in this conversation.")
        try:
            place = placement.place(
                Tree([r for r in rows if r.id is not None]), rows[0].leaf, regenerate, edit_of
            )
        except placement.Refused as exc:
            raise TurnRejected(str(exc)) from exc
        if regenerate is not None:
            text = place.question_text
        history = history_input([(r.role, r.text, r.status, r.items) for r in place.above])
        chosen, hosted_off = _settings_of(rows[0].settings, rows[0].hosted_off)
    elif regenerate is not None or edit_of is not None:
        raise TurnRejected("There is nothing to regenerate or edit in a new conversation.")
    try:
        warning = budgets.check(user_id=user.pk, conversation_id=conversation_id)
    except budgets.OverBudget as exc:
        raise TurnRejected(str(exc)) from exc
    history.append({"role": "user", "content": text})
    if model != settings.CHAT_MODEL:  # a caller's explicit model (manage.py ask --model)
        chosen = effective.with_model(chosen, model)
    fitted = fit_input(history, chosen=chosen)
    tools = tuple(hosted.enabled(hosted_off)) if hosted.offered() else ()
    return TurnPlan(
        user.pk, conversation_id, text, chosen.model, fitted.input, tools, warning,
        fitted.left_out, chosen.to_dict(), parent_id=place.parent_id,
        question_id=place.question_id, replaces=place.replaces,
        older_siblings=place.older_siblings,
    )  # fmt: skip


def _checked_text(text: str) -> str:
    text = storable.text(text).strip()  # a NUL would fail the write on PostgreSQL
    if not text:
        raise TurnRejected("The message is empty.")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise TurnRejected(
            f"The message is {len(text):,} characters long; the limit is "
            f"{settings.CHAT_MAX_MESSAGE_CHARS:,}."
        )
    return text


def fit_input(
    items: list[dict[str, Any]], *, chosen: effective.ChatSettings | None = None
) -> context.Fitted:
    """The input cut to the model's context window (chat/context.py); a new message that
    alone is too long is refused before anything is written or sent."""
    chosen = chosen or effective.defaults()
    fixed = context.estimate(chosen.instructions or "")
    if enabled_tools() and chosen.info.tools:
        fixed += context.estimate(declarations())
    try:
        return context.fit(
            items,
            window=catalog.info(chosen.model).context_window,
            answer_room=chosen.max_output_tokens,
            fixed=fixed,
        )
    except context.MessageTooLong as exc:
        raise TurnRejected(str(exc)) from exc


def resume_plan(*, message: Message) -> TurnPlan:
    """The plan of a turn taken over after its runner died: the history before the answer is
    its input again, as a resumed turn may go on to another tool round."""
    conversation_id = message.conversation_id
    history = history_input(placement.branch_rows(conversation_id, message.parent_id))
    tools = tuple(hosted.enabled(_tools_off(conversation_id))) if hosted.offered() else ()
    owner_id = message.conversation.owner_id
    recorded = message.settings or None  # as the answer was asked
    return TurnPlan(owner_id, conversation_id, "", message.model, history, tools, settings=recorded)


def _tools_off(conversation_id: int | None) -> list[str]:
    """The hosted tools a conversation switched off (read only when some are offered)."""
    if conversation_id is None:
        return []
    row = Conversation.objects.filter(pk=conversation_id).values_list("hosted_tools_off").first()
    return [n for n in (row[0] if row else None) or [] if isinstance(n, str)]


def _settings_of(stored: Any, off: Any) -> tuple[effective.ChatSettings, list[str]]:
    """A conversation's effective settings and the hosted tools it switched off, from their
    raw columns."""
    stored = sql.from_db(Conversation, "settings", stored)
    off = sql.from_db(Conversation, "hosted_tools_off", off)
    return effective.of(stored), [n for n in off or [] if isinstance(n, str)]


@dataclass(frozen=True)
class _Row:
    id: int
    parent_id: int | None
    role: Any
    text: Any
    status: Any
    items: Any
    leaf: int | None = None  # the conversation's current_leaf_id
    settings: Any = None  # the conversation's settings and hosted tools off (raw columns)
    hosted_off: Any = None


def _history_rows(conversation_id: int, user_id: int) -> list[_Row]:
    """Every message of the conversation, oldest first, with its parent (the tree), the
    conversation's current leaf, settings and hosted tools switched off; no row if the conversation is not the person's, one row of
    Nones if it has no message. Only the owner writes (chat/permissions.py), and only while the
    account is active: is_active is read from the database, so a socket opened before a
    deactivation cannot start answers. One statement, few columns: the ORM's two queries (all
    columns, items JSON decoded) cost 1.7-2.5 ms of CPU (empty conversation to 20 messages),
    this 0.1-0.2 ms; the items column is decoded only for answers (history_input)."""
    user_table = Conversation._meta.get_field("owner").related_model._meta.db_table
    rows = sql.execute(
        "SELECT m.id, m.parent_id, m.role, m.text, m.status, m.items, c.current_leaf_id, "
        "c.settings, c.hosted_tools_off "
        f"FROM {Conversation._meta.db_table} c "
        f"INNER JOIN {user_table} u ON u.id = c.owner_id "
        f"LEFT JOIN {Message._meta.db_table} m ON m.conversation_id = c.id "
        "WHERE c.id = %s AND c.owner_id = %s AND u.is_active = %s "
        "ORDER BY m.created_at, m.id",  # Message.Meta.ordering
        [conversation_id, user_id, True],
    )[1]
    return [_Row(*row) for row in rows]


def _check_rate(user_id: int) -> None:
    """At most CHAT_TURNS_PER_MINUTE turns a person per minute; the counter lives in the cache
    (Redis when REDIS_URL is set), so the limit holds across every server process."""
    limit = settings.CHAT_TURNS_PER_MINUTE
    if not limit:
        return
    key = f"turn-rate:{user_id}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: count this one as the first
        cache.set(key, 1, timeout=120)
        count = 1
    if count > limit:
        raise TurnRejected(f"You have sent {limit} messages this minute; please wait a moment.")


def history_input(rows: list[tuple[Any, Any, Any, Any]]) -> list[dict[str, Any]]:
    """Prior turns, from (role, text, status, items) rows, as stateless input items (no
    previous_response_id: llama.cpp refuses it): an answer's tool calls with their outputs
    (and reasoning where kept) go back with its text (chat/turns/replay.py)."""
    items: list[dict[str, Any]] = []
    reasoning = not settings.CHAT_STORE
    for role, text, status, stored in rows:
        if role == Message.Role.USER:
            if text:
                items.append({"role": "user", "content": text})
        elif role is not None:
            answer = _replayed_items(stored, reasoning)
            items.extend(answer_input(answer, text=text or "", status=status, reasoning=reasoning))
    return items


def _replayed_items(stored: Any, reasoning: bool) -> list[dict[str, Any]]:
    """An answer's items, decoded only when more than its text goes back: tool outputs, or
    reasoning on stateless requests (decoding every answer cost ~15 µs each, bench.dbcost)."""
    if isinstance(stored, str):
        if not reasoning and "function_call_output" not in stored:
            return []  # text only: the row's text says it all
        stored = sql.from_db(Message, "items", stored)
    return stored if isinstance(stored, list) else []


@transaction.atomic
def start_turn(*, plan: TurnPlan, lease_owner: str) -> StartedTurn:
    """The person's message and a queued answer, in one short transaction."""
    now = timezone.now()
    if plan.conversation_id is None:
        conversation = Conversation(owner_id=plan.user_id, title=_title(plan.text))
        sql.insert(conversation)
        conversation_id = conversation.pk
    else:
        conversation_id = plan.conversation_id
        _claim_conversation(conversation_id, plan.text, plan.question_id or plan.parent_id)
    answer = Message(
        conversation_id=conversation_id,
        role=Message.Role.ASSISTANT,
        status=Message.Status.QUEUED,
        model=plan.model,
        settings=_recorded(plan),
        queued_at=now,
        lease_owner=lease_owner,
        lease_expires_at=now + timedelta(seconds=settings.TURN_LEASE_SECONDS),
    )
    if plan.question_id is not None:  # a regenerate: the question is asked again, not copied
        question_id = plan.question_id
    else:
        user_message = Message(
            conversation_id=conversation_id, role=Message.Role.USER, text=plan.text,
            parent_id=plan.parent_id,
        )  # fmt: skip
        user_message.is_root = plan.parent_id is None  # type: ignore[attr-defined]
        sql.insert(user_message)
        question_id = user_message.pk
    answer.parent_id = question_id  # so a second INSERT: the answer needs its question's id
    sql.insert(answer)
    return StartedTurn(conversation_id, question_id, answer.pk)


def _recorded(plan: TurnPlan) -> dict[str, Any]:
    """What the answer is asked with, kept with it: the settings and the hosted tools."""
    return {**(plan.settings or {}), "hosted_tools": list(plan.hosted_tools)}


def _claim_conversation(conversation_id: int, text: str, above: int | None) -> None:
    """Touch the conversation (titled after this message if it has no title; its branch on
    screen moved to the new turn), then check that no answer is live in it. The branch: its
    current leaf becomes the message above the new question (`above`), and the new messages,
    the newest below it, are what is shown below it (chat/tree.py); None (a first question)
    shows the newest message, the new answer. The UPDATE goes first: it locks the row until the commit, as
    select_for_update() did (PostgreSQL; SQLite's IMMEDIATE transaction holds the write lock
    already), so of two processes starting a turn here at once the second waits there, then
    its SELECT sees the first one's queued answer."""
    updated_at = Conversation._meta.get_field("updated_at")
    updated, _ = sql.execute(
        f"UPDATE {Conversation._meta.db_table} SET updated_at = %s, current_leaf_id = %s, "
        "title = CASE WHEN title = '' THEN %s ELSE title END WHERE id = %s",
        [
            updated_at.get_db_prep_save(timezone.now(), sql.database()),
            above,
            _title(text),
            conversation_id,
        ],
    )
    if not updated:
        raise Conversation.DoesNotExist("Conversation matching query does not exist.")
    live = sql.execute(
        f"SELECT 1 FROM {Message._meta.db_table} WHERE conversation_id = %s "
        "AND status IN (%s, %s) LIMIT 1",
        [conversation_id, *Message.LIVE_STATUSES],
    )[1]
    if live:
        raise TurnRejected("A reply is still being written in this conversation.")


def checkpoint_turn(*, message_id: int, snapshot: TurnSnapshot, lease_owner: str) -> bool:
    """Save the partial answer and renew the lease; False if the turn is no longer ours."""
    live = snapshot.status in Message.LIVE_STATUSES
    values = {
        "status": snapshot.status if live else Message.Status.STREAMING,
        "lease_expires_at": timezone.now() + timedelta(seconds=settings.TURN_LEASE_SECONDS),
        **_message_fields(snapshot),
    }
    where = "id = %s AND status IN (%s, %s) AND lease_owner = %s"
    return (
        sql.update(Message, values, where, [message_id, *Message.LIVE_STATUSES, lease_owner]) == 1
    )


@transaction.atomic
def finish_turn(
    *,
    message_id: int,
    snapshot: TurnSnapshot,
    input_chars: int = 0,
    lease_owner: str | None = None,
    requested_model: str = "",
) -> Message:
    """Store the final answer and its usage rows (chat/usage/ledger.py) together, once: only
    while the answer is still live (and, given `lease_owner`, still that runner's). An answer
    already ended (a second end, the sweeper, another runner) is returned as stored, with no
    second usage row."""
    values = {
        **_message_fields(snapshot),
        "status": snapshot.status,
        "done_at": timezone.now(),
        "lease_owner": "",
        "lease_expires_at": None,
    }
    # UPDATEs lock the answer's row, then its conversation's, until the commit: what
    # select_for_update() with select_related() locked, in interrupt_turn's order. The columns
    # left alone were written at creation (save() wrote them back unchanged).
    where, params = "id = %s AND status IN (%s, %s)", [message_id, *Message.LIVE_STATUSES]
    if lease_owner is not None:
        where, params = f"{where} AND lease_owner = %s", [*params, lease_owner]
    if not sql.update(Message, values, where, params):
        return Message.objects.prefetch_related("usage_records").get(pk=message_id)
    message, _ = _stored_answer(message_id, values)
    sql.update(Conversation, {"updated_at": timezone.now()}, "id = %s", [message.conversation_id])
    records = record_round_usage(
        message=message,
        snapshot=snapshot,
        input_chars=input_chars,
        requested_model=requested_model,
    )
    message.prefetched_usage = records  # the relay renders it without a query
    return message


def _stored_answer(message_id: int, values: dict[str, Any]) -> tuple[Message, int]:
    """The saved answer (the columns finish_turn did not write, read back, and the values it
    wrote: its items are not decoded again) and its conversation's owner."""
    names = (
        "conversation_id", "parent_id", "role", "model", "settings", "created_at", "queued_at",
    )  # fmt: skip
    rows = sql.execute(
        f"SELECT {', '.join('m.' + name for name in names)}, c.owner_id "
        f"FROM {Message._meta.db_table} m INNER JOIN {Conversation._meta.db_table} c "
        "ON c.id = m.conversation_id WHERE m.id = %s",
        [message_id],
    )[1]
    if not rows:
        raise Message.DoesNotExist("Message matching query does not exist.")
    *row, owner_id = rows[0]
    read = {name: sql.from_db(Message, name, value) for name, value in zip(names, row, strict=True)}
    message = Message(id=message_id, **{**read, **values})  # values last: the snapshot's model
    message._state.adding = False
    message._state.db = sql.database().alias
    return message, owner_id


def claim_turn(*, message_id: int, lease_owner: str) -> Message | None:
    """Take over a live turn whose lease expired (to resume it); None if someone else did."""
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message_id, status__in=Message.LIVE_STATUSES, lease_expires_at__lt=now
    ).update(
        lease_owner=lease_owner,
        lease_expires_at=now + timedelta(seconds=settings.TURN_LEASE_SECONDS),
    )
    if not claimed:
        return None
    return Message.objects.select_related("conversation").get(pk=message_id)


@transaction.atomic
def interrupt_turn(*, message_id: int) -> Message | None:
    """End a turn whose runner died; None if it was saved or renewed in the meantime."""
    message = (
        Message.objects.select_for_update()
        .select_related("conversation")
        .filter(pk=message_id)
        .first()
    )
    now = timezone.now()
    if (
        message is None
        or not message.is_live
        or (message.lease_expires_at is not None and message.lease_expires_at >= now)
    ):
        return None
    requested_model = message.model  # as asked, unless a checkpoint saved the reported name
    message.status = Message.Status.INTERRUPTED
    message.error_code = message.error_code or "interrupted"
    message.error_message = (
        "The server process writing this answer stopped; this is the text saved before that."
    )
    message.done_at = now
    message.lease_owner = ""
    message.lease_expires_at = None
    message.save()
    if message.first_event_at is not None and not message.usage_records.exists():
        history = Message.objects.filter(conversation=message.conversation, id__lt=message.pk)
        snapshot = TurnSnapshot(
            status=message.status,
            text=message.text,
            items=message.items,
            model=message.model,
            response_id=message.response_id,
            events=1,
            rounds=message.rounds or [],
        )
        record_round_usage(
            message=message,
            snapshot=snapshot,
            input_chars=sum(len(m.text) for m in history),
            requested_model=requested_model,
        )
    return message


def record_round_usage(
    *, message: Message, snapshot: TurnSnapshot, input_chars: int, requested_model: str = ""
) -> list[Any]:
    """A ledger row for each round of a turn (a tool round, ...): the finished rounds from
    their records, the last one from the snapshot itself."""
    if len(snapshot.rounds) <= 1:
        last = record_usage(
            message=message, snapshot=snapshot, input_chars=input_chars,
            requested_model=requested_model,
        )  # fmt: skip
        return [last] if last else []
    records = []
    starts = [int(r.get("start") or 0) for r in snapshot.rounds] + [len(snapshot.items)]
    for number, done in enumerate(snapshot.rounds):
        if done.get("billed"):
            continue  # ledgered when the message first ended (it went on after an approval)
        items = snapshot.items[starts[number] : starts[number + 1]]
        usage = done.get("usage")
        last = number == len(snapshot.rounds) - 1
        round_snapshot = replace(
            snapshot,
            status=snapshot.status if last else done.get("status") or snapshot.status,
            text=_text_of(items),
            items=items,
            response_id=snapshot.response_id if last else done.get("response_id"),
            usage=snapshot.usage if last else TokenUsage(**usage) if usage else None,
            raw_usage=snapshot.raw_usage if last else done.get("raw_usage"),
            events=snapshot.events if last else done.get("events") or 0,
        )
        record = record_usage(
            message=message, snapshot=round_snapshot, input_chars=input_chars,
            requested_model=requested_model,
        )  # fmt: skip
        if record is not None:
            records.append(record)
    return records


def _text_of(items: list[dict[str, Any]]) -> str:
    return "".join(
        p.get("text") or ""
        for i in items
        if i.get("type") == "message"
        for p in i.get("parts") or []
    )


def _message_fields(snapshot: TurnSnapshot) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "text": snapshot.text,
        "items": snapshot.items,
        "response_id": snapshot.response_id or "",
        "background": snapshot.background,
        "last_seq": snapshot.last_seq,
        "error_code": snapshot.error_code or "",
        "error_message": snapshot.error_message or "",
        "incomplete_reason": snapshot.incomplete_reason or "",
        "warnings": snapshot.warnings,
        "rounds": snapshot.rounds,
        "first_event_at": snapshot.first_event_at,
        "first_token_at": snapshot.first_token_at,
    }
    if snapshot.model:
        fields["model"] = snapshot.model
    return fields


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:57].rstrip() + "…"
