from django.db import migrations

from chat.history import fts


class Migration(migrations.Migration):
    dependencies = [("chat", "0011_message_tree")]

    operations = [
        # Message text is searchable once the message has ended (chat/history/fts.py).
        migrations.RunPython(fts.vector_of_ended_messages, fts.vector_of_all_messages),
    ]
