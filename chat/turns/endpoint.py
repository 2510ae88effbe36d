"""Which server answers: OPENAI_BASE_URL, else api.openai.com with a key, else the local model."""

import asyncio
import logging

from django.conf import settings

from chat.upstream.client import UpstreamConfig, warm_connection

OPENAI_URL = "https://api.openai.com/v1"
log = logging.getLogger(__name__)


def uses_local_model() -> bool:
    return bool(settings.USE_LOCAL_MODEL)


def base_url_sync() -> str:
    """The upstream base URL, starting the embedded model first if it answers (blocks ~0.5 s once)."""
    if settings.OPENAI_BASE_URL:
        return settings.OPENAI_BASE_URL
    if settings.OPENAI_API_KEY:
        return OPENAI_URL
    from chat.local_model import ensure_local_model

    return ensure_local_model(
        state_file=settings.LOCAL_MODEL_STATE_FILE,
        threads=settings.LOCAL_MODEL_THREADS,
        parallel=settings.LOCAL_MODEL_PARALLEL,
    )


_cached: UpstreamConfig | None = None


async def upstream_config() -> UpstreamConfig:
    """The process's upstream settings, resolved once (the model start runs off the loop)."""
    global _cached
    if _cached is None:
        base_url = await asyncio.to_thread(base_url_sync)
        _cached = UpstreamConfig.from_settings(base_url)
    return _cached


def warm() -> None:
    """A turn is being planned: open the connection its stream will take meanwhile. Only
    once the endpoint is resolved (by a turn's start): resolving it may start the local
    model, which a message the plan then refuses must not do. Never raises."""
    if _cached is None:
        return
    try:
        warm_connection(_cached)
    except Exception:
        log.debug("no upstream connection opened ahead", exc_info=True)


def reset() -> None:
    """Forget the resolved endpoint (tests change settings between cases)."""
    global _cached
    _cached = None
