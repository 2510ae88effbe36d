"""The HTML of conversation-level events, from the conversation page's own partials.

Each event is three fragments: one for sockets watching the conversation (its header), one for
the owner's sockets (their sidebar's conv-N entry) and one for everyone else who may see it
(their "Shared with me" entry, shared-N): an oob element without a target is an htmx error.
"""

from django.utils.html import format_html

from chat.models import Conversation
from chat.turns.frames import oob, partial


def renamed(conversation: Conversation) -> tuple[str, str, str]:
    context = {"conversation": conversation}
    watcher = oob(partial("conversation_title", context)) + oob(
        partial("conversation_actions", context)
    )
    name = conversation.title or "New conversation"
    owner = format_html('<span id="conv-{}-name">{}</span>', conversation.pk, name)
    others = format_html('<span id="shared-{}-name">{}</span>', conversation.pk, name)
    return watcher, owner, others


def archived(conversation: Conversation) -> tuple[str, str, str]:
    """Only the owner's own list changes (others see shared conversations either way)."""
    context = {"conversation": conversation}
    watcher = oob(partial("archived_note", context)) + oob(partial("conversation_actions", context))
    owner = _remove_from_sidebar(conversation.pk)
    if conversation.archived_at is None:
        entry = {"id": conversation.pk, "title": conversation.title, "live": False}
        entry_html = partial("sidebar_entry", {"entry": entry, "conversation": None})
        owner += f'<ul id="conversation-list" hx-swap-oob="afterbegin">{entry_html}</ul>'
    return watcher, owner, ""


def deleted(conversation: Conversation) -> tuple[str, str, str]:
    watcher = (
        '<section class="transcript" id="transcript" aria-label="Messages">'
        '<p class="deleted-note" id="deleted-note" role="status">'
        "This conversation was deleted.</p></section>"
        '<div id="composer-area" hx-swap-oob="delete"></div>'
        '<div id="conversation-actions" hx-swap-oob="delete"></div>'
    )
    others = format_html('<li id="shared-{}" hx-swap-oob="delete"></li>', conversation.pk)
    return oob(watcher), _remove_from_sidebar(conversation.pk), others


def _remove_from_sidebar(conversation_id: int) -> str:
    return format_html('<li id="conv-{}" hx-swap-oob="delete"></li>', conversation_id)
