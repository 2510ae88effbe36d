"""Admin for the ledger (read-only: no add, change or delete), prices and budgets."""

from django.contrib import admin
from django.http import HttpRequest
from django.urls import path
from django.utils import timezone

from chat.usage import views
from chat.usage.models import Budget, ModelPrice, UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    # Short headers and no columns the filters already show: every figure fits 1280 px.
    list_display = (
        "when",
        "username",
        "model",
        "tokens_in",
        "tokens_cached",
        "tokens_out",
        "tokens_reasoning",
        "tokens_total",
        "usd",
        "est",
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

    @admin.display(description="when", ordering="created_at")
    def when(self, row: UsageRecord) -> str:
        return f"{timezone.localtime(row.created_at):%Y-%m-%d %H:%M}"

    @admin.display(description="in", ordering="input_tokens")
    def tokens_in(self, row: UsageRecord) -> int:
        return row.input_tokens

    @admin.display(description="cached", ordering="cached_tokens")
    def tokens_cached(self, row: UsageRecord) -> int:
        return row.cached_tokens

    @admin.display(description="out", ordering="output_tokens")
    def tokens_out(self, row: UsageRecord) -> int:
        return row.output_tokens

    @admin.display(description="reason.", ordering="reasoning_tokens")
    def tokens_reasoning(self, row: UsageRecord) -> int:
        return row.reasoning_tokens

    @admin.display(description="total", ordering="total_tokens")
    def tokens_total(self, row: UsageRecord) -> int:
        return row.total_tokens

    @admin.display(description="USD", ordering="cost")
    def usd(self, row: UsageRecord) -> str:
        return f"{row.cost:.6f}"

    @admin.display(description="est.", boolean=True, ordering="estimated")
    def est(self, row: UsageRecord) -> bool:
        return row.estimated

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
