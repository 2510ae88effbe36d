"""HTML fragments for the relay. Every top-level element is swapped by htmx by id (hx-ws-2).

Streamed text is appended as escaped text (`beforeend`); items that are new or changed
are rendered whole from the same template partials the page uses.
"""

from html import escape as escape_text

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import format_html

from chat.models import Message
from chat.presenters import STATUS_LABELS, MessageView, dom_id, item_view, message_view
from chat.turns.snapshot import TurnSnapshot
from chat.turns.state import Changes, TurnState

PAGE = "chat/conversation.html"


def live_message_view(message_id: int, snapshot: TurnSnapshot, model: str) -> MessageView:
    """A turn in flight: text as escaped plain text (markdown comes with the final render)."""
    return MessageView(
        id=message_id,
        role="assistant",
        status=snapshot.status,
        status_label=STATUS_LABELS.get(snapshot.status, snapshot.status),
        live=snapshot.status in ("queued", "streaming"),
        items=[item_view(message_id, i, it, False) for i, it in enumerate(snapshot.items)],
        error_code=snapshot.error_code or "",
        error_message=snapshot.error_message or "",
        warnings=list(snapshot.warnings),
        model=snapshot.model or model,
    )


def partial(name: str, context: dict) -> str:
    return render_to_string(f"{PAGE}#{name}", context)


def oob(html: str, how: str = "true") -> str:
    """Mark the first element of `html` as an out-of-band swap."""
    head, sep, rest = html.lstrip().partition(" ")
    return f'{head} hx-swap-oob="{how}"{sep}{rest}'


def delta_frame(message_id: int, state: TurnState, changes: Changes, rendered_items: int) -> str:
    """What changed since the last frame: appended text, changed items, the status line."""
    out: list[str] = []
    if changes.items or changes.status or changes.warnings:
        live = live_message_view(message_id, _light_snapshot(state), "")
    for position in sorted(changes.items):
        if position >= len(state.items):
            continue
        item = item_view(message_id, position, state.items[position].to_dict(), final=False)
        html = partial("item", {"item": item, "message": live})
        if position >= rendered_items:
            out.append(f'<div hx-swap-oob="beforeend:#{dom_id(message_id)}-items">{html}</div>')
        else:
            out.append(oob(html))
    for (position, name, index), text in changes.appended.items():
        target = dom_id(message_id, position, name, index)
        # The standard library's escape, as Django's escape calls it, without its lazy-string
        # wrapper (~1 % of the server's CPU under load: every frame of every stream).
        out.append(f'<span hx-swap-oob="beforeend:#{target}">{escape_text(text)}</span>')
    if changes.status:
        out.append(oob(partial("status_badge", {"message": live})))
    if changes.status or changes.warnings:
        out.append(oob(partial("error_box", {"message": live})))
    return "".join(out)


def live_message_frame(message_id: int, snapshot: TurnSnapshot, model: str) -> str:
    """The whole live message (a tab attaching mid-stream renders this, then goes on)."""
    view = live_message_view(message_id, snapshot, model)
    return oob(partial("message", {"message": view}))


def stored_message_frame(message: Message, *, read_only: bool = False) -> str:
    """The ended message; its Retry button only for those who may write."""
    return _stored_view_frame(message_view(message), read_only)


def _stored_view_frame(view: MessageView, read_only: bool) -> str:
    return oob(partial("message", {"message": view, "read_only": read_only}))


def appended_message_frame(view: MessageView, *, read_only: bool = False) -> str:
    """A message that is new to the page (with its version bar), added at the end of the
    transcript."""
    context = {
        "message": view,
        "read_only": read_only,
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
    }
    html = partial("message", context) + partial("branch_bar", context)
    # The "Ask anything" note is hidden by CSS once it is not alone (no oob delete: after the
    # first turn it has no target, and htmx logs an error for every later one).
    return f'<div hx-swap-oob="beforeend:#transcript">{html}</div>'


def transcript_frame(views: list[MessageView], *, read_only: bool) -> str:
    """The whole transcript: the branch on screen after a switch (chat/branches.py)."""
    context = {
        "messages": views,
        "read_only": read_only,
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
    }
    rows = partial("transcript_rows", context)
    return (
        '<section class="transcript" id="transcript" aria-label="Messages" hx-swap-oob="true">'
        f"{rows}</section>"
    )


def removed_rows_frame(message_ids: tuple[int, ...]) -> str:
    """Take messages (and their version bars) off the page: a new version replaces them."""
    return "".join(
        f'<div id="m{i}" hx-swap-oob="delete"></div><div id="m{i}-bar" hx-swap-oob="delete"></div>'
        for i in message_ids
    )


def turn_controls_frame(live: bool, *, read_only: bool = False) -> str:
    """The Stop button while live, only for those who may write."""
    return oob(partial("turn_controls", {"live": live, "read_only": read_only}))


def ended_frames(message: Message, *, viewers: bool = True) -> tuple[str, str | None]:
    """How a turn ended: for those who may write, and for read-only viewers (no Retry), that
    version only if `viewers` (None otherwise: nobody who could see it watches).

    Frames with write controls (a turn's start, a snapshot, its end: a few per turn) are
    rendered once per role, from one view (its markdown rendered once); deltas carry none and
    are rendered once for every socket."""
    view = message_view(message)
    controls = turn_controls_frame(live=False)
    writers = _stored_view_frame(view, read_only=False) + controls
    return writers, (_stored_view_frame(view, read_only=True) + controls if viewers else None)


def composer_reset_frame(max_chars: int) -> str:
    return oob(partial("composer", {"max_chars": max_chars}))


def composer_error_frame(message: str) -> str:
    return format_html(
        '<div id="composer-error" class="composer-error" role="alert">{}</div>', message
    )


def announce_frame(text: str) -> str:
    return format_html(
        '<div id="sr-announcer" class="visually-hidden" aria-live="polite" aria-atomic="false">{}</div>',
        text,
    )


def sidebar_dot_frame(conversation_id: int, live: bool) -> str:
    dot = (
        '<span class="live-dot" title="An answer is being written" aria-label="answer being written"></span>'
        if live
        else ""
    )
    return f'<span id="conv-{conversation_id}-dot" class="dot-slot">{dot}</span>'


def _light_snapshot(state: TurnState) -> TurnSnapshot:
    """Status fields only: the status partials need no items."""
    return TurnSnapshot(
        status=state.status,
        text="",
        items=[],
        error_code=state.error_code,
        error_message=state.error_message,
        warnings=list(state.warnings),
    )
