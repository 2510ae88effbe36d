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

from asgiref.sync import sync_to_async
from django.conf import settings

from chat.history import broadcast, events, manage, title_store
from chat.history.title_store import TitlePlan
from chat.turns import endpoint
from chat.turns.snapshot import TurnSnapshot, snapshot_of
from chat.turns.state import TurnState
from chat.upstream.client import stream_response
from chat.upstream.errors import UpstreamError

log = logging.getLogger(__name__)
INSTRUCTIONS = (
    "Write a title of at most six words for the conversation below. Reply with the title "
    "only, in the conversation's language, without quotes or a full stop."
)
MAX_OUTPUT_TOKENS = 24
MAX_EVENTS = 400  # a title is a few deltas; a stream going on past this is not a title
MAX_TITLE_CHARS = 60
TIMEOUT_SECONDS = 30.0
_STRIP = " \t\"'`*#_.:;-–—«»“”‘’"
# Conversations whose title is settled (their first answer is done, or a person named them):
# every later turn's end skips the plan's read (title_store). Per process, the newest kept.
MAX_SETTLED = 10_000
_settled: "OrderedDict[int, None]" = OrderedDict()


async def after_turn(conversation_id: int, message_id: int) -> None:
    """After the first answer: the model's title (CHAT_AUTO_TITLES), else the first words,
    shown in every open tab either way."""
    if conversation_id in _settled:
        return
    try:
        plan, settled = await sync_to_async(title_store.read_plan)(
            conversation_id, message_id, settings.CHAT_MODEL
        )
        if settled:
            settle(conversation_id)
        if plan is None:
            return
        title, usage = "", None
        if settings.CHAT_AUTO_TITLES:
            try:
                usage = await asyncio.wait_for(ask(plan), TIMEOUT_SECONDS)
            except TimeoutError:
                pass
            else:
                title = clean(usage.text) if usage.status in ("completed", "incomplete") else ""
        stored = await sync_to_async(title_store.store)(
            plan, title=title, fallback=fallback(plan.question), usage=usage,
            input_chars=len(INSTRUCTIONS) + len(plan.prompt()),
        )  # fmt: skip
        if stored is not None:
            await _announce(stored)
    except Exception:
        log.exception("automatic title for conversation %s failed", conversation_id)


async def _announce(stored: title_store.Stored) -> None:
    """Every open tab learns the title (here on the event loop: from the database thread
    the event would wait for a hop back to it)."""
    event = events.renamed(stored.conversation)
    await broadcast.publish(manage.announcement_of(stored.conversation, event, stored.watchers))


def settle(conversation_id: int) -> None:
    _settled[conversation_id] = None
    _settled.move_to_end(conversation_id)
    while len(_settled) > MAX_SETTLED:
        _settled.popitem(last=False)


def is_settled(conversation_id: int) -> bool:
    return conversation_id in _settled


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
