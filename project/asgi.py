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
from chat.turns import endpoint  # noqa: E402
from chat.turns.registry import registry  # noqa: E402
from project.origin import SameOriginValidator  # noqa: E402
from project.static_files import StaticFiles  # noqa: E402

http_app = StaticFiles(django_app) if settings.SERVE_STATIC else django_app

application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": KeepServerSend(
            SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)


def _start_process_services() -> None:
    """Sweeper and SIGTERM handling from process start, not from the first socket: a process
    that never serves a socket must still clean up after a crashed peer. Daphne imports us
    before its loop runs, so the start is scheduled on that loop."""
    daphne_server = sys.modules.get("daphne.server")
    try:
        loop = asyncio.get_running_loop()  # uvicorn imports the app inside its running loop
    except RuntimeError:
        loop = getattr(daphne_server, "twisted_loop", None)
    if loop is not None:
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(registry().ensure_started()))


# Everything loaded so far lives as long as the process: move it out of the collector's reach.
# Full collections otherwise walk Django's, pydantic's and the templates' objects again and
# again: measured as 100 ms event-loop stalls at 100 live streams (bench/README.md).
gc.freeze()

if os.environ.get("CHAT_START_SERVICES_AT_IMPORT", "1") == "1":
    _start_process_services()

if endpoint.uses_local_model() and settings.LOCAL_MODEL_PRELOAD:
    # Load the embedded model now, off the main thread, so the first turn does not wait.
    threading.Thread(target=endpoint.base_url_sync, name="local-model", daemon=True).start()
