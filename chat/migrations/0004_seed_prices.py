"""List prices (USD per million tokens) from https://openai.com/api/pricing/ as published in
November 2025, for the models this product's defaults and recordings use. They are in force
from 2025-01-01 so that earlier ledger rows are priced too; add a row with a later
effective date in the admin when a price changes, then run `usage_recompute`. The embedded
local model (smollm2) costs nothing."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
SOURCE = "openai.com/api/pricing, November 2025"
# model: (input, cached input, output)
PRICES = {
    "gpt-5.1": ("1.25", "0.125", "10.00"),
    "gpt-5.1-codex-max": ("1.25", "0.125", "10.00"),
    "gpt-5": ("1.25", "0.125", "10.00"),
    "gpt-5-mini": ("0.25", "0.025", "2.00"),
    "gpt-5-nano": ("0.05", "0.005", "0.40"),
    "gpt-4.1": ("2.00", "0.50", "8.00"),
    "gpt-4.1-mini": ("0.40", "0.10", "1.60"),
    "gpt-4.1-nano": ("0.10", "0.025", "0.40"),
    "gpt-4o": ("2.50", "1.25", "10.00"),
    "gpt-4o-mini": ("0.15", "0.075", "0.60"),
    "o4-mini": ("1.10", "0.275", "4.40"),
    "o3": ("2.00", "0.50", "8.00"),
    "omni-moderation-latest": ("0", "0", "0"),
}


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("chat", "ModelPrice")
    for model, (input_, cached, output) in PRICES.items():
        ModelPrice.objects.get_or_create(
            model=model,
            effective_from=SINCE,
            defaults={
                "input_per_million": Decimal(input_),
                "cached_input_per_million": Decimal(cached),
                "output_per_million": Decimal(output),
                "source": SOURCE,
            },
        )
    ModelPrice.objects.get_or_create(
        model="smollm2",
        effective_from=SINCE,
        defaults={
            "input_per_million": 0,
            "cached_input_per_million": 0,
            "output_per_million": 0,
            "source": "local model: no charge",
        },
    )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("chat", "ModelPrice")
    ModelPrice.objects.filter(effective_from=SINCE, model__in=[*PRICES, "smollm2"]).delete()


class Migration(migrations.Migration):
    dependencies = [("chat", "0003_usage_ledger")]

    operations = [migrations.RunPython(seed, unseed)]
