from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from chat import revocation
        from chat.history import fts, titles
        from chat.tools.hosted import check_settings
        from chat.turns import registry

        checks.register(check_settings)
        revocation.connect()  # open sockets re-check access when it changes
        # A SQLite table rebuild drops the search triggers: put them back after every migrate.
        post_migrate.connect(fts.after_migrate, sender=self, dispatch_uid="chat-history-fts")
        if titles.after_turn not in registry.turn_end_hooks:
            registry.turn_end_hooks.append(titles.after_turn)
