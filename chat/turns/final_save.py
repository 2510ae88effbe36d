"""A turn's final save: tried again while the database is busy, and never cut short by a
cancellation that arrives meanwhile (Ctrl-C, a shutdown, a late Stop)."""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError

from chat.models import Message
from chat.turns.save import finish_turn
from chat.turns.snapshot import TurnSnapshot

log = logging.getLogger(__name__)
FINISH_RETRY_PAUSES = (0.1, 0.3, 1.0, 2.0)  # seconds between tries of the final save


async def store_final(
    *,
    message_id: int,
    snapshot: Callable[[], TurnSnapshot],
    input_chars: int,
    lease_owner: str,
    requested_model: str,
) -> Message:
    """finish_turn, tried again while the database is busy (SQLite locked, a dropped
    connection); if it never answers, the sweeper marks the turn interrupted from its last
    checkpoint once the lease runs out. Each try saves the turn as it stands then."""
    for pause in (*FINISH_RETRY_PAUSES, None):
        try:
            return await sync_to_async(finish_turn)(
                message_id=message_id,
                snapshot=snapshot(),
                input_chars=input_chars,
                lease_owner=lease_owner,
                requested_model=requested_model,
            )
        except (OperationalError, InterfaceError) as exc:
            if pause is None:
                raise
            log.warning("final save failed (%s); trying again in %.1f s", exc, pause)
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


async def uncancellable(work: "Coroutine[Any, Any, None]") -> None:
    """Run the final save to its end even if the task is cancelled meanwhile (Ctrl-C, a
    shutdown): the cancellation is raised after it, never in the middle of it."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        task.result()
        raise
