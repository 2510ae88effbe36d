"""Admin: conversations with their messages (the usage ledger's pages: chat/usage/admin.py)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from chat.models import Conversation, Message
from chat.usage import admin as usage_admin  # noqa: F401  (registers the ledger, prices, budgets)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("role", "status", "text", "model", "error_code", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id", "title", "owner", "shared_with", "archived_at", "created_at", "updated_at", "view",
        "details",
    )  # fmt: skip
    list_filter = ("owner", "shared_with")
    search_fields = ("title", "messages__text")
    inlines = [MessageInline]

    @admin.display(description="view")
    def view(self, conversation: Conversation) -> str:
        """Opens the chat page read-only; a staff member's view is logged (accounts.ReviewLog)."""
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">view</a>',
            conversation.get_absolute_url(),
        )

    @admin.display(description="details")
    def details(self, conversation: Conversation) -> str:
        """The transcript review (timings, rounds, costs); a staff member's view is logged."""
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">details</a>',
            reverse("history:review", args=[conversation.pk]),
        )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "role", "status", "model", "created_at")
    list_filter = ("status", "role", "model")
    search_fields = ("text", "response_id")
    readonly_fields = ("items", "warnings", "lease_owner", "lease_expires_at")
