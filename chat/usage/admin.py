"""Admin for the ledger (read-only: no add, change or delete), prices and budgets."""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path

from chat.usage import views
from chat.usage.models import Budget, ModelPrice, UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "username",
        "team_name",
        "model",
        "status",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost",
        "estimated",
    )
    list_filter = ("model", "status", "estimated", "team_name")
    search_fields = ("username", "team_name", "conversation_title", "model", "response_id")
    date_hierarchy = "created_at"
    list_select_related = False
    show_full_result_count = False  # a count(*) over millions of rows per page view is waste
    change_list_template = "admin/chat/usagerecord/change_list.html"  # links to the report

    def get_urls(self):
        report = self.admin_site.admin_view(views.admin_report)
        return [path("report/", report, name="chat_usagerecord_report"), *super().get_urls()]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "model",
        "effective_from",
        "input_per_million",
        "cached_input_per_million",
        "output_per_million",
        "source",
    )
    search_fields = ("model",)


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("scope", "user", "team", "monthly_tokens", "monthly_cost")
    list_filter = ("scope",)
