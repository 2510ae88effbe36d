"""The upstream client's setup and its side requests: the config read from settings, one
shared httpx client per event loop (with its connection limits, proxied or not), and the
best-effort cancel of a background response (responses-protocol.md §5)."""

import logging

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from chat.upstream import bare
from chat.upstream import client as upstream
from chat.upstream.client import (
    UpstreamConfig,
    cancel_response,
    close_shared_client,
    shared_client,
)
from tests import fake_upstream as fake

pytestmark = pytest.mark.timeout(30)

KEY = "sk-secret0123456789"


def test_the_config_comes_from_settings(settings):
    settings.OPENAI_API_KEY = KEY
    settings.UPSTREAM_CONNECT_TIMEOUT = 1.5
    settings.UPSTREAM_FIRST_EVENT_TIMEOUT = 2.5
    settings.UPSTREAM_IDLE_TIMEOUT = 3.5
    settings.UPSTREAM_MAX_RETRIES = 4
    settings.UPSTREAM_MAX_RETRY_WAIT = 5.5
    settings.UPSTREAM_MAX_CONNECTIONS = 6
    assert UpstreamConfig.from_settings("http://h/X//") == UpstreamConfig(
        base_url="http://h/X",  # only slashes go: rstrip takes a set of characters
        api_key=KEY,
        connect_timeout=1.5,
        first_event_timeout=2.5,
        idle_timeout=3.5,
        max_retries=4,
        max_retry_wait=5.5,
        max_connections=6,
    )


# --- one shared client per loop ---


async def test_the_loop_keeps_one_client_until_it_is_closed():
    cfg = UpstreamConfig("http://h/v1")
    first = shared_client(cfg)
    assert shared_client(cfg) is first
    await first.aclose()
    second = shared_client(cfg)
    assert second is not first and not second.is_closed
    assert shared_client(cfg) is second
    await close_shared_client()
    assert second.is_closed
    assert shared_client(cfg) is not second
    await close_shared_client()
    await close_shared_client()  # nothing left to close is fine


async def test_the_shared_client_reads_through_aiohttp_with_our_connection_limit(monkeypatch):
    monkeypatch.setattr(bare, "proxy_configured", lambda: False)
    try:
        transport = shared_client(UpstreamConfig("http://h/v1", max_connections=7))._transport
        assert isinstance(transport, AiohttpTransport)
        assert transport.limits.max_connections == 7
    finally:
        await close_shared_client()


@pytest.mark.parametrize(("connections", "kept_alive"), [(150, 100), (7, 7)])
async def test_a_proxied_client_keeps_at_most_a_hundred_idle_connections(
    monkeypatch, connections, kept_alive
):
    """httpx's own transport, which applies the proxy variables; our limits still hold."""
    monkeypatch.setattr(bare, "proxy_configured", lambda: True)
    try:
        cfg = UpstreamConfig("http://h/v1", max_connections=connections)
        pool = shared_client(cfg)._transport._pool
        assert not isinstance(shared_client(cfg)._transport, AiohttpTransport)
        assert (pool._max_connections, pool._max_keepalive_connections) == (
            connections,
            kept_alive,
        )
    finally:
        await close_shared_client()


# --- cancel ---


def recording(seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"status": "cancelled"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_a_cancel_posts_with_only_the_key_and_a_doubled_connect_timeout():
    seen: list[httpx.Request] = []
    cfg = UpstreamConfig("http://h/v1", api_key=KEY, connect_timeout=1.5)
    async with recording(seen) as client:
        await cancel_response("resp_1", config=cfg, client=client)
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "http://h/v1/responses/resp_1/cancel")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    # Not the stream's headers: the answer is JSON, not an event stream.
    assert request.headers["accept"] == "*/*"
    assert "cache-control" not in request.headers
    assert request.extensions["timeout"] == dict.fromkeys(["connect", "read", "write", "pool"], 3.0)


async def test_a_cancel_goes_through_the_shared_client_by_default():
    with fake.FakeUpstream() as server:
        try:
            await cancel_response("resp_2", config=UpstreamConfig(server.base_url))
        finally:
            await close_shared_client()
        assert server.cancelled == ["resp_2"]


async def test_a_cancel_that_fails_is_logged_not_raised(caplog):
    def refuse(request):
        raise httpx.ConnectError("refused")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with caplog.at_level(logging.WARNING, logger=upstream.__name__):
            await cancel_response("resp_3", config=UpstreamConfig("http://h/v1"), client=client)
    assert caplog.messages == ["cancel of resp_3 failed: refused"]
