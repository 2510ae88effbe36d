"""Process-level services of the relay, started with the server: the channel-layer bridge,
the periodic sweeper and a graceful SIGTERM.

They start from the server's own start, not from the first socket: a process that never
serves a socket must still end the turns of a crashed peer (or of its own previous life).
uvicorn (project/serve.py) runs `lifespan` below; daphne has no ASGI lifespan, so
project/asgi.py schedules `start_services` on daphne's loop when it loads the app. Sockets
call it too (idempotent), for any other server. This module builds on the registry; the
registry knows nothing of it.
"""

import asyncio
import logging
import os
import signal
import uuid
import weakref
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from chat.turns.registry import TurnRegistry, registry
from chat.turns.runner import PROCESS_ID
from chat.turns.sweeper import sweep_expired

log = logging.getLogger(__name__)
_started: "weakref.WeakSet[TurnRegistry]" = weakref.WeakSet()  # registries whose services run


async def start_services() -> None:
    """Bridge, sweeper and signal handlers of this process, once (inside its event loop)."""
    current = registry()
    await current.ensure_started()
    if current in _started:
        return
    _started.add(current)
    current.keep(asyncio.create_task(sweep_forever(current), name="sweeper"))
    install_signal_handlers(current)


async def lifespan(scope: dict, receive: Any, send: Any) -> None:
    """ASGI lifespan: services at startup; at shutdown, running turns are saved first."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await start_services()
            except Exception as exc:
                log.exception("process services failed to start")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            current = registry()
            if current.accepting:  # not drained by our signal handler already
                await current.shutdown(drain=settings.SHUTDOWN_DRAIN_SECONDS)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def sweep_forever(registry: TurnRegistry) -> None:
    """Every few seconds, end the turns whose runners died, and show watchers how they ended."""
    while True:
        try:
            owner = f"{PROCESS_ID}-resume-{uuid.uuid4().hex[:8]}"
            ended, claimed = await sync_to_async(sweep_expired)(
                claim_as=owner if registry.accepting else None
            )
            for message in ended:
                registry.announce_stored(message)
            for message in claimed:
                await registry.resume(message, lease_owner=owner)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(settings.SWEEP_INTERVAL)


def install_signal_handlers(registry: TurnRegistry) -> None:
    """On SIGTERM/SIGINT: stop taking turns, drain or save the running ones, then let the
    server (daphne or uvicorn) do its own shutdown with the handler it had installed."""
    if not settings.CHAT_SIGNAL_HANDLERS:
        return
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(received: int, frame: object, previous: object = previous) -> None:
            signal.signal(received, signal.SIG_IGN)  # a second signal must not cut the save short
            loop.call_soon_threadsafe(
                lambda: asyncio.ensure_future(_graceful(registry, received, previous))
            )

        try:
            signal.signal(signum, handler)
        except ValueError:
            return  # not the main thread: the server keeps its own handling


async def _graceful(registry: TurnRegistry, signum: int, previous: object) -> None:
    log.warning("signal %s: finishing %d running turn(s) before exit", signum, len(registry.turns))
    try:
        await registry.shutdown(drain=settings.SHUTDOWN_DRAIN_SECONDS)
    finally:
        signal.signal(
            signum,
            previous
            if callable(previous) or previous in (signal.SIG_DFL, signal.SIG_IGN)
            else signal.SIG_DFL,
        )
        os.kill(os.getpid(), signum)
