"""The usage ledger (one row per upstream response), the price table and budgets.

The ledger outlives what it describes: its links to the conversation, message, person and
team are set to null when those are deleted, and the names it needs for reports are copied
onto the row when it is written. Rows are never edited by people (the admin is read-only);
only `usage_recompute` rewrites the cost columns after a price change.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

MONEY = {"max_digits": 18, "decimal_places": 9}  # a cached token of the cheapest model: $5e-9


class ModelPrice(models.Model):
    """List price of one model from a date on; the latest one in force when a row is written
    applies. A name also prices its dated snapshots ("gpt-5" prices "gpt-5-2025-08-07")."""

    model = models.CharField(max_length=200, help_text="Model name as requested or reported.")
    effective_from = models.DateTimeField(default=timezone.now)
    input_per_million = models.DecimalField(**MONEY, help_text="USD per 1M input tokens.")
    cached_input_per_million = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="USD per 1M cached input tokens (empty: input)."
    )
    output_per_million = models.DecimalField(
        **MONEY, help_text="USD per 1M output tokens (reasoning included)."
    )
    source = models.CharField(max_length=300, blank=True, help_text="Where the price comes from.")

    class Meta:
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["model", "effective_from"], name="one_price_a_time")
        ]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from:%Y-%m-%d}"


class UsageRecord(models.Model):
    """One row per upstream response: the ledger that usage and cost reports read."""

    message = models.ForeignKey(
        "chat.Message", on_delete=models.SET_NULL, null=True, related_name="usage_records"
    )
    conversation = models.ForeignKey(
        "chat.Conversation", on_delete=models.SET_NULL, null=True, related_name="usage_records"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="usage_records"
    )
    # The team the conversation was charged to when the row was written (chat/usage/ledger.py).
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.SET_NULL, null=True, related_name="usage_records"
    )
    # Names as they were, so a report still reads after the row's links are gone.
    username = models.CharField(max_length=150, blank=True)
    team_name = models.CharField(max_length=100, blank=True)
    conversation_title = models.CharField(max_length=200, blank=True)
    requested_model = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200)  # as the server reported it, else as requested
    response_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16)
    # Cached tokens are a subset of input tokens, reasoning a subset of output: never add them.
    input_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    # True when the upstream never reported usage (a stopped or broken stream) and the
    # counts are our estimate from the text we sent and received.
    estimated = models.BooleanField(default=False)
    # The price in force when the row was written; null when no price matched the model.
    price = models.ForeignKey(
        ModelPrice, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cost = models.DecimalField(**MONEY, default=0)  # USD
    raw = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="usage_user_time"),
            models.Index(fields=["team", "created_at"], name="usage_team_time"),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.total_tokens} tokens"


class Budget(models.Model):
    """A monthly ceiling in tokens and/or USD for one person, one team, or everyone (the
    default, for people without a budget of their own)."""

    class Scope(models.TextChoices):
        USER = "user"
        TEAM = "team"
        DEFAULT = "default"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
        related_name="budget",
    )  # fmt: skip
    team = models.OneToOneField(
        "accounts.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="budget"
    )
    monthly_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_cost = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="USD a calendar month."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="user", user__isnull=False, team__isnull=True)
                    | Q(scope="team", team__isnull=False, user__isnull=True)
                    | Q(scope="default", user__isnull=True, team__isnull=True)
                ),
                name="budget_scope_matches",
            ),
            models.UniqueConstraint(
                fields=["scope"], condition=Q(scope="default"), name="one_default_budget"
            ),
        ]

    def __str__(self) -> str:
        who = {"user": self.user, "team": self.team}.get(self.scope, "everyone")
        return f"budget for {who}"

    def clean(self) -> None:
        if self.monthly_tokens is None and self.monthly_cost is None:
            raise ValidationError("Set a monthly token or cost limit (or both).")
