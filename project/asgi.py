"""ASGI entry point: Django first, then sockets behind origin and auth checks."""

import os
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.turns import endpoint  # noqa: E402

http_app = ASGIStaticFilesHandler(django_app) if settings.SERVE_STATIC else django_app

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

if endpoint.uses_local_model() and settings.LOCAL_MODEL_PRELOAD:
    # Load the embedded model now, off the main thread, so the first turn does not wait.
    threading.Thread(target=endpoint.base_url_sync, name="local-model", daemon=True).start()
