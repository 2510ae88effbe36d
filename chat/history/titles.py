"""Automatic titles: after the first answer of a conversation is complete, a short upstream
request names it. The request is recorded in the usage ledger (a row of the conversation, no
message). When the model cannot (an error, nothing usable), the plain title from the first
words of the question stays. A title a person gave is never replaced.

The registry calls `after_turn` when a turn ends (chat/turns/registry.py, turn_end_hooks);
the hook is installed by the app (chat/apps.py) and switched by CHAT_AUTO_TITLES.
"""

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from chat.history import manage
from chat.models import Conversation, Message
from chat.turns import endpoint
from chat.turns.snapshot import TurnSnapshot, snapshot_of
from chat.turns.state import TurnState
from chat.upstream.client import stream_response
from chat.upstream.errors import UpstreamError
from chat.usage import ledger

log = logging.getLogger(__name__)
INSTRUCTIONS = (
    "Write a title of at most six words for the conversation below. Reply with the title "
    "only, in the conversation's language, without quotes or a full stop."
)
MAX_PROMPT_CHARS = 1500  # of the question and of the answer each
MAX_OUTPUT_TOKENS = 24
MAX_EVENTS = 400  # a title is a few deltas; a stream going on past this is not a title
MAX_TITLE_CHARS = 60
TIMEOUT_SECONDS = 30.0
_STRIP = " \t\"'`*#_.:;-–—«»“”‘’"
# Conversations whose title is settled (their first answer is done, or a person named them):
# every later turn's end skips the three reads of plan_title. Per process, the newest kept.
MAX_SETTLED = 10_000
_settled: "OrderedDict[int, None]" = OrderedDict()


@dataclass(frozen=True)
class TitlePlan:
    conversation_id: int
    question: str
    answer: str
    model: str

    def prompt(self) -> str:
        return (
            f"Question: {self.question[:MAX_PROMPT_CHARS]}\n\n"
            f"Answer: {self.answer[:MAX_PROMPT_CHARS]}"
        )


@dataclass(frozen=True)
class _Charge:
    """What the ledger needs of a 'message': the title belongs to the conversation only."""

    conversation_id: int
    model: str
    pk: None = None


async def after_turn(conversation_id: int, message_id: int) -> None:
    """After the first answer: the model's title (CHAT_AUTO_TITLES), else the first words,
    shown in every open tab either way."""
    if conversation_id in _settled:
        return
    try:
        plan, settled = await sync_to_async(_plan)(conversation_id, message_id)
        if settled:
            settle(conversation_id)
        if plan is None:
            return
        if not settings.CHAT_AUTO_TITLES:
            await sync_to_async(store_fallback)(plan)
            return
        try:
            snapshot = await asyncio.wait_for(ask(plan), TIMEOUT_SECONDS)
        except TimeoutError:
            await sync_to_async(store_fallback)(plan)
            return
        await sync_to_async(store_title)(plan, snapshot)
    except Exception:
        log.exception("automatic title for conversation %s failed", conversation_id)


def settle(conversation_id: int) -> None:
    _settled[conversation_id] = None
    _settled.move_to_end(conversation_id)
    while len(_settled) > MAX_SETTLED:
        _settled.popitem(last=False)


def is_settled(conversation_id: int) -> bool:
    return conversation_id in _settled


def plan_title(conversation_id: int, message_id: int) -> TitlePlan | None:
    """A plan only right after the conversation's first completed answer, unless named by
    a person."""
    return _plan(conversation_id, message_id)[0]


def _plan(conversation_id: int, message_id: int) -> tuple[TitlePlan | None, bool]:
    """The plan, and whether no later turn can need one (its first answer is done). Reads
    only the columns it uses: a whole answer row would decode its items for nothing."""
    named = Conversation.objects.filter(pk=conversation_id).values_list("title_by_person")
    named = named.first()
    if named is None:
        return None, False
    if named[0]:
        return None, True
    answers = Message.objects.filter(conversation_id=conversation_id, role=Message.Role.ASSISTANT)
    first = (
        answers.filter(status=Message.Status.COMPLETED)
        .order_by("created_at", "id")
        .values_list("id", "text")
        .first()
    )
    if first is None:
        return None, False
    first_id, answer = first
    if first_id != message_id:
        return None, True
    question = (
        Message.objects.filter(
            conversation_id=conversation_id, role=Message.Role.USER, id__lt=first_id
        )
        .order_by("id")
        .values_list("text", flat=True)
        .first()
    )
    plan = TitlePlan(
        conversation_id=conversation_id,
        question=question or "",
        answer=answer,
        model=settings.CHAT_MODEL,
    )
    return plan, True


async def ask(plan: TitlePlan) -> TurnSnapshot:
    body = {
        "model": plan.model,
        "instructions": INSTRUCTIONS,
        "input": [{"role": "user", "content": plan.prompt()}],
        "max_output_tokens": MAX_OUTPUT_TOKENS,
        "store": False,
    }
    state = TurnState()
    events = stream_response(body, config=await endpoint.upstream_config())
    try:
        async for event in events:
            state.apply(event)
            if state.events >= MAX_EVENTS:
                state.fail("too_long", "The title stream went on too long.")
                break
        if not state.is_final:
            state.fail("stream_cut", "The title stream ended without a final status.")
    except UpstreamError as err:
        state.fail(err.error_code, err.message)
    finally:
        await events.aclose()
    return snapshot_of(state)


def clean(text: str) -> str:
    """The model's words as a title: one line, no quotes or markdown, at most 60 characters;
    empty when nothing usable came back."""
    line = next((ln for ln in (text or "").splitlines() if ln.strip()), "")
    line = re.sub(r"^(title|titel|titre)\s*:\s*", "", " ".join(line.split()), flags=re.I)
    line = line.strip(_STRIP)
    if len(line) > MAX_TITLE_CHARS:
        line = line[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0].rstrip(_STRIP) + "…"
    return line if re.search(r"\w", line) else ""


def fallback(question: str) -> str:
    """The plain title: the first words of the question."""
    words = " ".join(question.split())
    if len(words) <= MAX_TITLE_CHARS:
        return words
    return words[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def store_title(plan: TitlePlan, snapshot: TurnSnapshot) -> str:
    """Ledger row and title in one transaction; returns the title the conversation got."""
    title = clean(snapshot.text) if snapshot.status in ("completed", "incomplete") else ""
    with transaction.atomic():
        convo = Conversation.objects.select_for_update().filter(pk=plan.conversation_id).first()
        if convo is None:
            return ""
        ledger.record_usage(
            message=_Charge(conversation_id=plan.conversation_id, model=plan.model),
            snapshot=snapshot,
            input_chars=len(INSTRUCTIONS) + len(plan.prompt()),
            requested_model=plan.model,
        )
        return _apply(convo, title or convo.title or fallback(plan.question))


def store_fallback(plan: TitlePlan) -> str:
    """No model title: the first words (usually already stored by the first message)."""
    with transaction.atomic():
        convo = Conversation.objects.select_for_update().filter(pk=plan.conversation_id).first()
        if convo is None:
            return ""
        return _apply(convo, convo.title or fallback(plan.question))


def _apply(convo: Conversation, title: str) -> str:
    """Store the title unless a person named it; open tabs learn it in both cases where it
    is the automatic one (the first words were stored without telling them)."""
    if convo.title_by_person or not title:
        return convo.title
    if title != convo.title:
        manage.rename(conversation=convo, title=title, by_person=False)
    else:
        manage.announce_title(convo)
    return title
