"""ASGI entry point: Django first, then sockets behind origin (project/origin.py) and auth checks."""

import asyncio
import gc
import os
import sys
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from chat.routing import KeepServerSend, websocket_urlpatterns  # noqa: E402
from chat.turns import endpoint, lifecycle  # noqa: E402
from project.origin import SameOriginValidator  # noqa: E402
from project.static_files import StaticFiles  # noqa: E402

http_app = StaticFiles(django_app) if settings.SERVE_STATIC else django_app

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": KeepServerSend(
            SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
        "lifespan": lifecycle.lifespan,  # uvicorn: process services start with the server
    }
)


def _start_process_services() -> None:
    """Daphne has no ASGI lifespan: it imports us before its loop runs, so the start of the
    process services (chat/turns/lifecycle.py) is scheduled on that loop. uvicorn runs the
    lifespan instead."""
    daphne_server = sys.modules.get("daphne.server")
    loop = getattr(daphne_server, "twisted_loop", None)
    if loop is not None:
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(lifecycle.start_services()))


# Everything loaded so far lives as long as the process: move it out of the collector's reach.
# Full collections otherwise walk Django's, pydantic's and the templates' objects again and
# again: measured as 100 ms event-loop stalls at 100 live streams (bench/README.md).
gc.freeze()

if os.environ.get("CHAT_START_SERVICES_AT_IMPORT", "1") == "1":
    _start_process_services()

if endpoint.uses_local_model() and settings.LOCAL_MODEL_PRELOAD:
    # Load the embedded model now, off the main thread, so the first turn does not wait.
    threading.Thread(target=endpoint.base_url_sync, name="local-model", daemon=True).start()
