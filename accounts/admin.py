"""Admin: teams with their members, invite links, the staff review log, and user (de)activation."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from accounts.models import Invite, Membership, ReviewLog, Role, Team
from chat import revocation

User = get_user_model()


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ("user", "role", "joined_at")
    readonly_fields = ("joined_at",)
    autocomplete_fields = ("user",)
    extra = 1


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "member_count", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]
    actions = ["create_invite"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, team: Team) -> int:
        return team.member_count

    @admin.action(description="Create an invite link (member) to the selected teams")
    def create_invite(self, request, queryset) -> None:
        for team in queryset:
            invite = Invite.objects.create(team=team, role=Role.MEMBER, created_by=request.user)
            link = request.build_absolute_uri(invite.get_absolute_url())
            messages.success(
                request,
                format_html(
                    "Invite to {} (valid until {}): <code>{}</code>",
                    team,
                    date_format(timezone.localtime(invite.expires_at), "DATETIME_FORMAT"),
                    link,
                ),
            )


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ("__str__", "email", "team", "role", "state", "expires_at", "created_by")
    list_filter = ("team", "role")
    search_fields = ("email", "team__name", "used_by__username")
    fields = (
        "invite_url",
        "email",
        "team",
        "role",
        "expires_at",
        "created_by",
        "created_at",
        "used_by",
        "used_at",
    )
    readonly_fields = ("invite_url", "created_by", "created_at", "used_by", "used_at")
    actions = ["create_like_selected"]

    def get_object(self, request, object_id, from_field=None):
        invite = super().get_object(request, object_id, from_field)
        if invite is not None:
            invite.site_root = request.build_absolute_uri("/")
        return invite

    @admin.display(description="invite link")
    def invite_url(self, invite: Invite) -> str:
        if not invite.pk:
            return "Shown after saving."
        root = getattr(invite, "site_root", "/")
        return format_html(
            '<input type="text" readonly size="80" value="{}" onfocus="this.select()">',
            root.rstrip("/") + invite.get_absolute_url(),
        )

    @admin.display(description="state")
    def state(self, invite: Invite) -> str:
        if invite.is_used:
            return f"used by {invite.used_by or 'a deleted account'}"
        return "expired" if invite.is_expired else "open"

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Create a new invite link like each selected one")
    def create_like_selected(self, request, queryset) -> None:
        for old in queryset:
            invite = Invite.objects.create(
                email=old.email, team=old.team, role=old.role, created_by=request.user
            )
            messages.success(
                request,
                format_html(
                    "New invite{}: <code>{}</code>",
                    f" to {invite.team} as {invite.role}" if invite.team else "",
                    request.build_absolute_uri(invite.get_absolute_url()),
                ),
            )


@admin.register(ReviewLog)
class ReviewLogAdmin(admin.ModelAdmin):
    """Read-only: the log of staff reviews cannot be edited or pruned from the admin."""

    list_display = ("at", "reviewer_name", "conversation_link", "via")
    list_filter = ("via", "reviewer")
    search_fields = ("reviewer_name", "conversation_label")
    date_hierarchy = "at"

    @admin.display(description="conversation")
    def conversation_link(self, log: ReviewLog) -> str:
        if log.conversation_id is None:
            return f"{log.conversation_label} (deleted)"
        url = reverse("admin:chat_conversation_change", args=[log.conversation_id])
        return format_html('<a href="{}">{}</a>', url, log.conversation_label)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class UserMembershipInline(admin.TabularInline):
    model = Membership
    fields = ("team", "role", "joined_at")
    readonly_fields = ("joined_at",)
    extra = 0


class AccountAdmin(UserAdmin):
    """Django's user admin plus team memberships and one-click (de)activation."""

    list_display = ("username", "email", "is_active", "is_staff", "last_login", "date_joined")
    inlines = [UserMembershipInline]
    actions = ["deactivate", "activate"]

    @admin.action(description="Deactivate the selected accounts (their sessions stop working)")
    def deactivate(self, request, queryset) -> None:
        ids = list(queryset.exclude(pk=request.user.pk).values_list("pk", flat=True))
        count = User.objects.filter(pk__in=ids).update(is_active=False)
        revocation.access_changed(users=ids)  # their open tabs are closed
        messages.success(request, f"Deactivated {count} account(s).")
        if queryset.filter(pk=request.user.pk).exists():
            messages.warning(request, "Your own account was left active.")

    @admin.action(description="Reactivate the selected accounts")
    def activate(self, request, queryset) -> None:
        count = queryset.update(is_active=True)
        messages.success(request, f"Reactivated {count} account(s).")


admin.site.unregister(User)
admin.site.register(User, AccountAdmin)
