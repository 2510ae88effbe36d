"""/healthz (database, channel layer, upstream) and /readyz (taking turns?) for probes.

Anonymous probes learn only ok / not ok (and the status code): the upstream URL, error
texts and timings are for staff. The upstream is asked at most once per
HEALTH_UPSTREAM_CACHE_SECONDS per process, so probes never spend upstream calls per request.
"""

import asyncio
import time
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from chat.turns import endpoint
from chat.turns.registry import registry
from chat.upstream.client import shared_client

CHECK_TIMEOUT = 3.0


async def healthz(request: HttpRequest) -> JsonResponse:
    names = ("database", "channel_layer", "upstream")
    results = await asyncio.gather(_database(), _channel_layer(), upstream_check.get())
    checks = dict(zip(names, results, strict=True))
    ok = all(check["ok"] for check in checks.values())
    body: dict[str, Any] = {"ok": ok}
    if await _is_staff(request):
        body["checks"] = checks
    return JsonResponse(body, status=200 if ok else 503)


async def readyz(request: HttpRequest) -> JsonResponse:
    """Cheap: one SELECT 1 and the registry's own state, never the upstream."""
    database = await _database()
    accepting = registry().accepting
    ok = accepting and database["ok"]
    body: dict[str, Any] = {"ok": ok, "accepting_turns": accepting}
    if await _is_staff(request):
        body |= {"live_turns": len(registry().turns), "database": database}
    return JsonResponse(body, status=200 if ok else 503)


async def _is_staff(request: HttpRequest) -> bool:
    user = await request.auser()
    return bool(user.is_active and user.is_staff)


async def _timed(probe) -> dict[str, Any]:
    started = time.monotonic()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            detail = await probe()
    except Exception as exc:  # a probe reports failures, it never raises them
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1), **(detail or {})}


async def _database() -> dict[str, Any]:
    def query() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    async def probe() -> dict[str, Any]:
        await sync_to_async(query)()
        return {"vendor": connection.vendor}

    return await _timed(probe)


async def _channel_layer() -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        layer = get_channel_layer()
        channel = await layer.new_channel("health.")
        await layer.send(channel, {"type": "health.ping"})
        message = await layer.receive(channel)
        assert message["type"] == "health.ping"
        return {"backend": type(layer).__name__}

    return await _timed(probe)


async def _upstream() -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        config = await endpoint.upstream_config()
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        response = await shared_client(config).get(
            f"{config.base_url}/models", headers=headers, timeout=httpx.Timeout(CHECK_TIMEOUT)
        )
        # Any HTTP answer means the server is reachable; 401 would mean a bad key.
        key_ok = response.status_code not in (401, 403)
        return {"status": response.status_code, "base_url": config.base_url, "key_ok": key_ok}

    return await _timed(probe)


class UpstreamCheck:
    """The upstream probe's last result, reused for a while; concurrent probes share one call."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.result: dict[str, Any] | None = None
        self.checked_at = float("-inf")
        self.pending: asyncio.Future[dict[str, Any]] | None = None

    async def get(self) -> dict[str, Any]:
        fresh = time.monotonic() - self.checked_at < settings.HEALTH_UPSTREAM_CACHE_SECONDS
        if self.result is not None and fresh:
            return {**self.result, "cached": True}
        loop = asyncio.get_running_loop()
        if self.pending is None or self.pending.done() or self.pending.get_loop() is not loop:
            self.pending = asyncio.ensure_future(self._check())
        return await asyncio.shield(self.pending)

    async def _check(self) -> dict[str, Any]:
        result = await _upstream()
        self.result, self.checked_at = result, time.monotonic()
        return result


upstream_check = UpstreamCheck()
