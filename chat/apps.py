from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from chat import revocation
        from chat.tools.hosted import check_settings

        checks.register(check_settings)
        revocation.connect()  # open sockets re-check access when it changes
