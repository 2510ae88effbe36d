"""A turn before any write: the request checked (text, rate, budget, place in the tree) and
its input read and fitted to the model; also the plan of a turn taken over after its runner died."""

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from chat import context, placement, sql, storable
from chat.conversation_settings import catalog, effective
from chat.models import Conversation, Message
from chat.tools import hosted
from chat.tools.registry import declarations, enabled_tools
from chat.tree import Tree
from chat.turns import ids
from chat.turns.prior import history_input, history_rows
from chat.usage import budgets


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
    # The new rows' ids, taken ahead (chat/turns/ids.py): the question's (none for a
    # regenerate) and the answer's; () where the database cannot hand them out ahead.
    ids: tuple[int, ...] = ()

    def reserved(self) -> "StartedTurn | None":
        """The turn's rows as frames may name them before they are written (None: only once
        they are: a new conversation's id comes with its row)."""
        if self.conversation_id is None or not self.ids:
            return None
        question = self.ids[0] if self.question_id is None else self.question_id
        return StartedTurn(self.conversation_id, question, self.ids[-1])


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
    """Validate and read the history, and take the new rows' ids (no rows written: the
    upstream request starts right after).

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
        rows = history_rows(conversation_id, user.pk)
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
        ids=ids.reserve(1 if place.question_id is not None else 2),
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
