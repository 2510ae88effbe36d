"""Access withdrawn from sockets already open.

A socket checks chat/permissions.py once, before accept(). When access changes afterwards
(a conversation made private again, an account deactivated, someone removed from a team,
a conversation or person deleted), every server process is told, after the commit, and its
sockets on those conversations or of those people check again: one that lost its access is
shown why and closed, and gets no frame from then on.

Model saves and deletes are caught by signals (the admin's forms, inlines, cascades);
code that changes access with a queryset update() calls `access_changed` itself.
"""

import asyncio
import contextvars
import functools
import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from accounts.models import Membership
from chat.models import Conversation

log = logging.getLogger(__name__)
ACCESS_FIELDS = {"is_active", "is_staff"}  # the user fields chat/permissions.py reads


def access_changed(*, conversations: Iterable[int] = (), users: Iterable[int] = ()) -> None:
    """After the current transaction commits, have every process re-check its sockets on
    these conversations and of these people."""
    notice = functools.partial(_notify, sorted(set(conversations)), sorted(set(users)))
    transaction.on_commit(notice)


def _notify(conversations: list[int], users: list[int]) -> None:
    from chat.turns import bridge as wire
    from chat.turns.registry import registry

    if not conversations and not users:
        return
    current = registry()
    loop = current.loop
    if loop is not None and not loop.is_closed():
        # This process serves sockets: its registry re-checks them and tells the others.
        change = functools.partial(current.access_changed, conversations=conversations, users=users)
        if _running_loop() is loop:
            change()
        else:
            # A context of its own: the caller's (a view's sync thread) would make the
            # sockets' database hops think they run inside that thread, and refuse.
            loop.call_soon_threadsafe(change, context=contextvars.Context())
        return
    if wire.crosses_processes():  # a process with no sockets (manage.py): tell the servers
        notice = wire.AccessChanged(conversations=conversations, users=users)
        async_to_sync(get_channel_layer().group_send)(wire.ACCESS_GROUP, wire.wire_body(notice))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# --- signals ---
def _user_saved(sender: Any, instance: Any, created: bool, update_fields: Any, **_: Any) -> None:
    if created or (update_fields is not None and not ACCESS_FIELDS & set(update_fields)):
        return  # a new account, or a save that cannot change access (last_login at login)
    access_changed(users=[instance.pk])


def _user_deleted(sender: Any, instance: Any, **_: Any) -> None:
    access_changed(users=[instance.pk])


def _conversation_changed(sender: Any, instance: Conversation, **kwargs: Any) -> None:
    if kwargs.get("created"):
        return
    access_changed(conversations=[instance.pk])


def _membership_deleted(sender: Any, instance: Membership, **_: Any) -> None:
    """The person loses the team's shares; if they owned some, the others lose those: every
    member's sockets check again."""
    members = Membership.objects.filter(team_id=instance.team_id).values_list("user_id", flat=True)
    access_changed(users=[instance.user_id, *members])


def connect() -> None:
    """Called once from ChatConfig.ready()."""
    user_model = get_user_model()
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="revocation-user-saved")
    post_delete.connect(_user_deleted, sender=user_model, dispatch_uid="revocation-user-deleted")
    for signal, uid in ((post_save, "saved"), (post_delete, "deleted")):
        signal.connect(
            _conversation_changed, sender=Conversation, dispatch_uid=f"revocation-conv-{uid}"
        )
    post_delete.connect(
        _membership_deleted, sender=Membership, dispatch_uid="revocation-membership-deleted"
    )
