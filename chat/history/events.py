"""The HTML of conversation-level events, from the conversation page's own partials.

Each event is two fragments: one for sockets watching the conversation (its header), one for
every socket of the people who may see it (their sidebars). Elements a tab does not have (a
read-only viewer has no owner controls) are skipped by htmx.
"""

from django.utils.html import format_html

from chat.models import Conversation
from chat.turns.frames import oob, partial


def renamed(conversation: Conversation) -> tuple[str, str]:
    context = {"conversation": conversation}
    watcher = oob(partial("conversation_title", context)) + oob(
        partial("conversation_actions", context)
    )
    user = format_html(
        '<span id="conv-{0}-name">{1}</span><span id="shared-{0}-name">{1}</span>',
        conversation.pk,
        conversation.title or "New conversation",
    )
    return watcher, user


def archived(conversation: Conversation) -> tuple[str, str]:
    context = {"conversation": conversation}
    watcher = oob(partial("archived_note", context)) + oob(partial("conversation_actions", context))
    user = _remove_from_sidebar(conversation.pk)
    if conversation.archived_at is None:
        entry = {"id": conversation.pk, "title": conversation.title, "live": False}
        entry_html = partial("sidebar_entry", {"entry": entry, "conversation": None})
        user += f'<ul id="conversation-list" hx-swap-oob="afterbegin">{entry_html}</ul>'
    return watcher, user


def deleted(conversation: Conversation) -> tuple[str, str]:
    watcher = (
        '<section class="transcript" id="transcript" aria-label="Messages">'
        '<p class="deleted-note" id="deleted-note" role="status">'
        "This conversation was deleted.</p></section>"
        '<div id="composer-area" hx-swap-oob="delete"></div>'
        '<div id="conversation-actions" hx-swap-oob="delete"></div>'
    )
    user = _remove_from_sidebar(conversation.pk) + format_html(
        '<li id="shared-{}" hx-swap-oob="delete"></li>', conversation.pk
    )
    return oob(watcher), user


def _remove_from_sidebar(conversation_id: int) -> str:
    return format_html('<li id="conv-{}" hx-swap-oob="delete"></li>', conversation_id)
