from django.db import migrations

from chat.history import fts


class Migration(migrations.Migration):
    dependencies = [("chat", "0008_history")]

    operations = [
        # PostgreSQL only: a stored tsvector column for message text (chat/history/fts.py).
        migrations.RunPython(fts.add_stored_vector, fts.drop_stored_vector),
    ]
