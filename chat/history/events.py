"""The HTML of conversation-level events, from the conversation page's own partials.

Each event is four fragments, because an oob element without a target is an htmx error: for
sockets watching the conversation (its header), the same without the owner's controls for
read-only watchers, the owner's sockets (their sidebar's conv-N entry) and everyone else who may
see it (their "Shared with me" entry, shared-N).
"""

from typing import NamedTuple

from django.utils.html import format_html

from chat.models import Conversation
from chat.turns.frames import oob, partial


class Event(NamedTuple):
    watcher: str  # sockets watching the conversation that may write in it
    owner: str  # every socket of the owner
    others: str  # every socket of the others who may see it
    viewer: str  # read-only sockets watching it (no owner controls on their page)


def renamed(conversation: Conversation) -> Event:
    context = {"conversation": conversation}
    title = oob(partial("conversation_title", context))
    # Only the parts that change, never the forms: a form replaced while its own request is
    # under way is detached, and htmx then finds no target for that response's oob swaps.
    watcher = title + oob(partial("rename_input", context))
    name = conversation.title or "New conversation"
    owner = format_html('<span id="conv-{}-name">{}</span>', conversation.pk, name)
    others = format_html('<span id="shared-{}-name">{}</span>', conversation.pk, name)
    return Event(watcher, owner, others, title)


def archived(conversation: Conversation) -> Event:
    """Only the owner's own list changes (others see shared conversations either way)."""
    context = {"conversation": conversation}
    note = oob(partial("archived_note", context))
    watcher = note + oob(partial("archive_toggle", context))
    owner = _remove_from_sidebar(conversation.pk)
    if conversation.archived_at is None:
        entry = {"id": conversation.pk, "title": conversation.title, "live": False}
        entry_html = partial("sidebar_entry", {"entry": entry, "conversation": None})
        owner += f'<ul id="conversation-list" hx-swap-oob="afterbegin">{entry_html}</ul>'
    return Event(watcher, owner, "", note)


def deleted(conversation: Conversation) -> Event:
    viewer = oob(
        '<section class="transcript" id="transcript" aria-label="Messages">'
        '<p class="deleted-note" id="deleted-note" role="status">'
        "This conversation was deleted.</p></section>"
        '<div id="composer-area" hx-swap-oob="delete"></div>'
    )
    watcher = viewer + '<div id="conversation-actions" hx-swap-oob="delete"></div>'
    others = format_html('<li id="shared-{}" hx-swap-oob="delete"></li>', conversation.pk)
    return Event(watcher, _remove_from_sidebar(conversation.pk), others, viewer)


def _remove_from_sidebar(conversation_id: int) -> str:
    return format_html('<li id="conv-{}" hx-swap-oob="delete"></li>', conversation_id)
