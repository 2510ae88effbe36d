"""Branch changes and the branch on screen, built on chat/tree.py (the pure tree logic).

Only those who may write switch versions, and not while an answer is being written (the live
answer stays on screen, keeps streaming and is saved); read-only viewers follow the owner's
branch.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from chat import permissions
from chat.history import broadcast
from chat.models import Conversation, Message
from chat.presenters import message_view
from chat.tree import Tree
from chat.turns import frames


class BranchRefused(Exception):
    """A branch change that cannot happen; the message says why in words a person understands."""


def shown_messages(conversation: Conversation, messages: Sequence[Message]) -> list[Message]:
    """The messages of the branch on screen, each with its `nav` (‹ i/n ›) set."""
    tree = Tree(messages)
    shown: list[Any] = tree.shown(conversation.current_leaf_id)
    for message in shown:
        message.nav = tree.nav(message.id)
    return shown


def in_other_version(
    at: str | None, every: Sequence[Message], shown: Sequence[Message]
) -> int | None:
    """`at` (a message id from a link, e.g. a search hit) when it is in this conversation but
    not on the branch shown, so the page can offer to show its version."""
    if not at or not at.isdigit() or len(at) > 18:
        return None
    wanted = int(at)
    if any(m.pk == wanted for m in shown) or not any(m.pk == wanted for m in every):
        return None
    return wanted


@dataclass(frozen=True)
class Switched:
    conversation: Conversation
    messages: list[Message]  # the branch now on screen, each with its nav


@transaction.atomic
def switch(*, user: Any, conversation_id: int, message_id: int) -> Switched:
    """Show the branch through `message_id` (a sibling's newest line) in every tab."""
    conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    if conversation is None or not permissions.can_write(user, conversation):
        raise BranchRefused("Only the owner can switch between versions.")
    messages = list(conversation.messages.prefetch_related("usage_records"))
    if any(m.is_live for m in messages):
        raise BranchRefused(
            "An answer is being written; switch versions once it is done (or stop it)."
        )
    tree = Tree(messages)
    if message_id not in tree.by_id:
        raise BranchRefused("That version is not in this conversation.")
    below = tree.newest_below(message_id)
    leaf = below[-1].id if below else message_id
    Conversation.objects.filter(pk=conversation_id).update(current_leaf_id=leaf)
    conversation.current_leaf_id = leaf
    return Switched(conversation, shown_messages(conversation, messages))


def switch_and_show(*, user: Any, conversation_id: int, message_id: int) -> None:
    """Switch, then show the new branch in every tab of every process once committed (the
    conversation-level events of chat/history/broadcast.py): writers get version controls,
    read-only viewers the same transcript without them."""
    switched = switch(user=user, conversation_id=conversation_id, message_id=message_id)
    views = [message_view(m) for m in switched.messages]
    broadcast.on_commit(
        conversation_id,
        [],
        watcher_html=frames.transcript_frame(views, read_only=False),
        viewer_html=frames.transcript_frame(views, read_only=True),
        user_html="",
    )
