"""PostgreSQL only: tell the planner that a ledger row's user id and username (and team id and
team name) go together. Without it, it expects ~100,000 (id, name) groups where there are a
few hundred, sorts a month of rows on disk instead of hashing them, and the report by person
takes about three times as long (manage.py usage_benchmark). The same for the day, week and
month a row falls in, in the site's TIME_ZONE as the report computes it (after a change of
TIME_ZONE reports stay right, only slower until this is run again)."""

from django.conf import settings
from django.db import migrations

STATISTICS = {
    "usage_user_names": "user_id, username",
    "usage_team_names": "team_id, team_name",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in STATISTICS.items():
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS {name} (ndistinct) ON {columns} FROM chat_usagerecord"
        )
    zone = settings.TIME_ZONE.replace("'", "")
    for period in ("day", "week", "month"):
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS usage_{period} ON "
            f"(DATE_TRUNC('{period}', created_at AT TIME ZONE '{zone}')) FROM chat_usagerecord"
        )
    schema_editor.execute("ANALYZE chat_usagerecord")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in [*STATISTICS, "usage_day", "usage_week", "usage_month"]:
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_message_rounds")]

    operations = [migrations.RunPython(create, drop)]
