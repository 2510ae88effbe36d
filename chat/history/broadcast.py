"""Conversation-level events (renamed, archived, deleted) shown in every open tab.

Turn frames have their own fan-out (chat/turns/registry.py); these events are rare and
human-paced, so each one goes to every process once (bridge group `conversations`) and each
process shows it to its own sockets: those watching the conversation, and every socket of the
people who may see it (their sidebars). Sent only after the transaction commits, as Zulip does.
"""

import logging

from asgiref.sync import async_to_sync
from django.db import transaction

from chat.turns import bridge as wire
from chat.turns.registry import registry

log = logging.getLogger(__name__)


def on_commit(
    conversation_id: int,
    users: list[int],
    *,
    watcher_html: str,
    user_html: str,
    owner: int = 0,
    owner_html: str = "",
    viewer_html: str | None = None,
) -> None:
    """Publish the event once the current transaction commits (at once outside one)."""
    event = event_for(
        conversation_id,
        users,
        watcher_html=watcher_html,
        user_html=user_html,
        owner=owner,
        owner_html=owner_html,
        viewer_html=viewer_html,
    )
    transaction.on_commit(lambda: publish_from_thread(event))


def event_for(
    conversation_id: int,
    users: list[int],
    *,
    watcher_html: str,
    user_html: str,
    owner: int = 0,
    owner_html: str = "",
    viewer_html: str | None = None,
) -> wire.ConversationEvent:
    """The event as every process receives it (`publish` it on the event loop, after the
    transaction that made the change)."""
    return wire.ConversationEvent(
        conversation=conversation_id,
        origin="",
        users=users,
        watcher_html=watcher_html,
        user_html=user_html,
        owner=owner,
        owner_html=owner_html,
        viewer_html=viewer_html,
    )


def publish_from_thread(event: wire.ConversationEvent) -> None:
    # A sync view under ASGI runs in a worker thread: async_to_sync hands the coroutine to the
    # server's event loop, where the registry and its sockets live.
    try:
        async_to_sync(publish)(event)
    except Exception:
        # The change is committed; a tab that missed the event shows it on its next load.
        log.exception("could not publish a conversation event for %s", event.conversation)


async def publish(event: wire.ConversationEvent) -> None:
    turns = registry()
    turns.show_conversation_event(event)
    if turns.bridge is not None:
        channel = await turns.bridge.ready()
        turns.bridge.group_send(wire.EVERY_PROCESS, event.model_copy(update={"origin": channel}))
