"""Rename, archive, unarchive and delete a conversation: each one short transaction, then an
event to every open tab (chat/history/broadcast.py). Callers check permissions first
(chat/permissions.py); these functions do the writes."""

import logging
from typing import Any

from django.apps import apps
from django.core.files.storage import Storage
from django.db import models, transaction
from django.utils import timezone

from chat import permissions
from chat.history import broadcast, events
from chat.models import Conversation, Message
from chat.turns.bridge import ConversationEvent

log = logging.getLogger(__name__)
MAX_TITLE = 200


class Refused(Exception):
    """The change cannot be made; the message says why, for the person."""


def clean_title(raw: str) -> str:
    title = " ".join((raw or "").split())
    if not title:
        raise Refused("A title cannot be empty.")
    if len(title) > MAX_TITLE:
        raise Refused(f"A title can have at most {MAX_TITLE} characters.")
    return title


def rename(*, conversation: Conversation, title: str, by_person: bool = True) -> bool:
    """A person's rename always applies; an automatic one only while no person named it."""
    title = clean_title(title)
    with transaction.atomic():
        # No save(): updated_at stays, so a rename does not reorder the list.
        rows = Conversation.objects.filter(pk=conversation.pk)
        if by_person:
            changed = rows.update(title=title, title_by_person=True)
        else:
            changed = rows.filter(title_by_person=False).update(title=title)
        if changed:
            conversation.title = title
            _announce(conversation, events.renamed(conversation))
    return bool(changed)


def announce_title(conversation: Conversation) -> None:
    """Tell open tabs the stored title (one set without an event, e.g. from the first words)."""
    _announce(conversation, events.renamed(conversation))


def set_archived(*, conversation: Conversation, archived: bool) -> Conversation:
    moment = timezone.now() if archived else None
    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(archived_at=moment)
        conversation.archived_at = moment
        _announce(conversation, events.archived(conversation))
    return conversation


def delete(*, conversation_id: int) -> None:
    """Remove the conversation, its messages and its stored files; the usage ledger stays.

    Refused while an answer is being written: the row lock (PostgreSQL; SQLite's IMMEDIATE
    transaction holds the write lock) orders this against a turn starting at the same moment,
    whose start updates the same row first (chat/turns/start.py, _claim_conversation)."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if conversation is None:
            raise Refused("This conversation does not exist (any more).")
        if Message.objects.filter(
            conversation=conversation, status__in=Message.LIVE_STATUSES
        ).exists():
            raise Refused("An answer is still being written here: stop it first, then delete.")
        files = stored_files(conversation)
        _announce(conversation, events.deleted(conversation))
        conversation.delete()
        transaction.on_commit(lambda: _remove_files(files))


def stored_files(conversation: Conversation) -> list[tuple[Storage, str]]:
    """Every file a model stores for this conversation or its messages (generated images...),
    found through their foreign keys, so a new file model is covered without a change here."""
    found: list[tuple[Storage, str]] = []
    for model in apps.get_models():
        file_fields = [f for f in model._meta.get_fields() if isinstance(f, models.FileField)]
        lookup = _lookup_to(model, conversation)
        if not file_fields or lookup is None:
            continue
        for row in model._default_manager.filter(**lookup).only(*[f.name for f in file_fields]):
            for field in file_fields:
                value = getattr(row, field.name)
                if value and value.name:
                    found.append((value.storage, value.name))
    return found


def _lookup_to(model: type[models.Model], conversation: Conversation) -> dict[str, Any] | None:
    for field in model._meta.get_fields():
        if not isinstance(field, models.ForeignKey):
            continue
        if field.related_model is Conversation:
            return {field.name: conversation}
        if field.related_model is Message:
            return {f"{field.name}__conversation": conversation}
    return None


def _remove_files(files: list[tuple[Storage, str]]) -> None:
    for storage, name in files:
        try:
            storage.delete(name)
        except OSError:
            log.warning("could not delete stored file %s", name)


def _announce(conversation: Conversation, event: events.Event) -> None:
    announcement = announcement_of(conversation, event, permissions.watchers_of(conversation))
    transaction.on_commit(lambda: broadcast.publish_from_thread(announcement))


def announcement_of(
    conversation: Conversation, event: events.Event, users: list[int]
) -> ConversationEvent:
    """The event for every open tab: `users` are those who may see the conversation
    (permissions.watchers_of)."""
    return broadcast.event_for(
        conversation.pk,
        users,
        watcher_html=event.watcher,
        viewer_html=event.viewer,
        user_html=event.others,
        owner=conversation.owner_id,
        owner_html=event.owner,
    )
