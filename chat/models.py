"""Conversations, their messages, and the usage ledger (one row per upstream response)."""

from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from chat.conversation_settings.models import SettingsPreset  # noqa: F401  (the app's models)
from chat.tree import Tree
from chat.usage.models import Budget, ModelPrice, UsageRecord  # noqa: F401  (the app's models)


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    # Hosted tools (chat/tools/hosted.py) this conversation switched off; the deployment
    # decides which are offered at all.
    hosted_tools_off = models.JSONField(default=list, blank=True)
    # Model, instructions, effort, temperature, max output tokens, function tools switched
    # off: what the person chose over the deployment's defaults (chat/conversation_settings/).
    settings = models.JSONField(default=dict, blank=True)
    # Private unless the owner shares it, read-only, with one of their teams (chat/permissions.py).
    shared_with = models.ForeignKey(
        "accounts.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="shared_conversations",
    )
    # A person named it: automatic titles (chat/history/titles.py) leave it alone.
    title_by_person = models.BooleanField(default=False)
    # Archived ones leave the sidebar but stay searchable and listed under History.
    archived_at = models.DateTimeField(null=True, blank=True)
    # The branch on screen (chat/branches.py): this message, its ancestors, and below it the
    # newest reply at each step; None means the newest message. Every tab shows this branch,
    # and the next turn's input follows it.
    current_leaf = models.ForeignKey(
        "Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            # Keyset paging of a person's list (chat/history/listing.py): newest first.
            models.Index(fields=["owner", "-updated_at", "-id"], name="conversation_keyset"),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("conversation", args=[self.pk])


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        QUEUED = "queued"
        STREAMING = "streaming"
        COMPLETED = "completed"
        INCOMPLETE = "incomplete"
        FAILED = "failed"
        CANCELLED = "cancelled"
        INTERRUPTED = "interrupted"

    LIVE_STATUSES = (Status.QUEUED, Status.STREAMING)

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # Messages form a tree: a regenerated answer or an edited question is a sibling of the
    # one it replaces (same parent); nothing is overwritten. None: a first question.
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    text = models.TextField(blank=True)
    # The accumulated output items (reasoning, tool calls, message parts) as TurnState keeps them.
    items = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=200, blank=True)  # requested, then the one that answered
    response_id = models.CharField(max_length=200, blank=True)  # the latest round's
    # One entry per upstream response of this answer (a tool round adds one): response id,
    # status, usage, and where its items start (TurnState.round_record).
    rounds = models.JSONField(default=list, blank=True)
    background = models.BooleanField(default=False)
    last_seq = models.IntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    incomplete_reason = models.CharField(max_length=100, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # The effective settings this answer was asked with (chat/conversation_settings/).
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    first_event_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # The runner that owns a live turn renews this lease; an expired lease means it died.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["lease_expires_at"],
                name="live_turn_lease",
                condition=Q(status__in=["queued", "streaming"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.pk} ({self.status})"

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # A message added without a parent (the admin, a script, a test factory) continues
        # the branch on screen; a new first question says so with `is_root = True`. Turns
        # (chat/turns/start.py) set the parent themselves.
        if self._state.adding and self.parent_id is None and not getattr(self, "is_root", False):
            self.parent_id = shown_leaf_id(self.conversation_id)
        super().save(*args, **kwargs)

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES


def shown_leaf_id(conversation_id: int | None) -> int | None:
    """The last message of the branch on screen (where a new message goes)."""
    if conversation_id is None:
        return None
    current = Conversation.objects.filter(pk=conversation_id).values_list("current_leaf_id")
    rows = Message.objects.filter(conversation_id=conversation_id).order_by("created_at", "id")
    nodes = [_Node(*r) for r in rows.values_list("id", "parent_id")]
    row = current.first()
    shown = Tree(nodes).shown(row[0] if row else None)
    return shown[-1].id if shown else None


@dataclass(frozen=True)
class _Node:
    id: int
    parent_id: int | None


def _image_path(instance: "GeneratedImage", filename: str) -> str:
    return f"generated/{instance.conversation_id}/{filename}"


class GeneratedImage(models.Model):
    """An image a hosted tool made: the file lives in Django's storage, not in the items JSON,
    and is served only after its conversation's permission check (chat/images.py)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="images")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to=_image_path, max_length=300)
    mime = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    item_id = models.CharField(max_length=200, blank=True)  # the upstream item's id
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"image {self.pk} ({self.mime}, {self.size} bytes)"
