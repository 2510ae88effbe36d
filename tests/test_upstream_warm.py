"""Connections opened ahead (chat.upstream.pool.Pool.warm, chat.turns.endpoint.warm): a turn's
connect overlaps its plan's database work. The request then takes that connection, or waits
for it while it opens, never opening a second; nothing is opened where a connection is idle,
one is already opening, the pool is full or closed; a failed connect gives its place back."""

import asyncio
import logging
import socket

import pytest

from chat.turns import endpoint
from chat.upstream import bare, pool
from chat.upstream.client import UpstreamConfig, warm_connection
from chat.upstream.pool import Pool
from tests import raw_http as raw
from tests.raw_http import RawServer
from tests.test_upstream_pool import OK, answer, key

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def server():
    async with RawServer() as upstream:
        upstream.script(*[OK] * 5)
        yield upstream


async def test_a_request_takes_the_connection_opened_ahead(server):
    p = Pool(asyncio.get_running_loop(), 10)
    p.warm(key(server), 1.0)
    assert p.open == 1 and p.idle_count() == 0  # counted while it opens
    await raw.until(lambda: p.idle_count() == 1)
    assert server.connections == 1
    wire, reused = await p.acquire(key(server), 1.0)
    assert reused and p.open == 1
    await answer(wire)
    assert server.connections == 1 and server.requests[0].connection == 0
    p.release(wire, True)
    p.close()


async def test_a_request_waits_for_the_connection_being_opened_rather_than_open_another(server):
    p = Pool(asyncio.get_running_loop(), 10)
    p.warm(key(server), 1.0)
    wire, reused = await p.acquire(key(server), 1.0)  # at once, while it still opens
    assert reused and p.open == 1 and server.connections == 1
    await answer(wire)
    p.release(wire, True)
    p.close()


async def test_nothing_is_opened_ahead_where_it_would_not_help(server):
    loop = asyncio.get_running_loop()
    p = Pool(loop, 10)
    wire, _ = await p.acquire(key(server), 1.0)
    await answer(wire)
    p.release(wire, True)
    p.warm(key(server), 1.0)  # one is idle
    assert p.open == 1 and server.connections == 1
    wire.idle_since -= pool.KEEPALIVE_EXPIRY  # too old to be taken: then one is opened ahead
    p.warm(key(server), 1.0)
    p.warm(key(server), 1.0)  # one is opening already
    assert p.open == 2
    await raw.until(lambda: server.connections == 2)
    p.close()
    full = Pool(loop, 1)
    busy, _ = await full.acquire(key(server), 1.0)
    full.warm(key(server), 1.0)  # at the limit
    assert full.open == 1
    full.release(busy, False)
    full.close()
    full.warm(key(server), 1.0)  # closed
    assert full.open == 0 and not full._warming


async def test_a_connect_that_fails_gives_its_place_back():
    with socket.socket() as spare:  # a port with nothing listening
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    p = Pool(asyncio.get_running_loop(), 10)
    p.warm(("http", "127.0.0.1", port), 1.0)
    assert p.open == 1
    await raw.until(lambda: not p._warming)
    assert p.open == 0 and p.idle_count() == 0
    with pytest.raises(OSError):
        await p.acquire(("http", "127.0.0.1", port), 1.0)  # the request reports it itself
    assert p.open == 0


async def test_closing_the_pool_stops_the_connections_being_opened(server):
    p = Pool(asyncio.get_running_loop(), 10)
    p.warm(key(server), 1.0)
    p.close()
    await asyncio.sleep(0.05)
    assert p.open == 0 and p.idle_count() == 0 and not p._warming


async def test_a_connection_opened_after_the_pool_closed_is_closed_not_kept(server):
    p = Pool(asyncio.get_running_loop(), 10)
    p.warm(key(server), 1.0)
    p._closed = True  # closed while it opens, its connect not cancelled (yet)
    await raw.until(lambda: not p._warming)
    assert server.connections == 1
    assert p.open == 0 and p.idle_count() == 0
    await raw.until(lambda: server.open_now == 0)


async def test_the_endpoint_opens_one_for_the_configured_server_once_resolved(
    server, settings, monkeypatch
):
    settings.OPENAI_BASE_URL = server.url()
    endpoint.reset()

    def must_not_resolve() -> str:
        raise AssertionError("a warm must not resolve the endpoint (it may start a model)")

    try:
        monkeypatch.setattr(endpoint, "base_url_sync", must_not_resolve)
        endpoint.warm()  # not resolved yet: nothing
        assert not pool.pool_for(asyncio.get_running_loop(), 1000)._warming
        monkeypatch.undo()
        settings.OPENAI_BASE_URL = server.url()
        await endpoint.upstream_config()  # a turn's start resolves it
        endpoint.warm()
        await raw.until(lambda: server.connections == 1)
        the_pool = pool.pool_for(asyncio.get_running_loop(), 1000)
        await raw.until(lambda: the_pool.idle_count() == 1)
    finally:
        endpoint.reset()
        pool.close_pool(asyncio.get_running_loop())


async def test_no_connection_ahead_through_a_proxy_or_to_an_address_that_is_not_valid(
    server, monkeypatch
):
    loop = asyncio.get_running_loop()
    config = UpstreamConfig(base_url=server.url())
    monkeypatch.setattr(bare, "uses_proxy", lambda url: True)
    warm_connection(config)  # streams go through httpx and the proxy: nothing to warm
    assert loop not in pool._pools or not pool.pool_for(loop, 1000)._warming
    monkeypatch.setattr(bare, "uses_proxy", lambda url: False)
    warm_connection(UpstreamConfig(base_url="ftp://nowhere/v1"))  # left to the request
    assert loop not in pool._pools or not pool.pool_for(loop, 1000)._warming
    pool.close_pool(loop)


async def test_a_connection_that_cannot_be_opened_ahead_is_left_to_the_request(monkeypatch, caplog):
    def broken(config):
        raise RuntimeError("no loop for the pool")

    monkeypatch.setattr(endpoint, "_cached", UpstreamConfig(base_url="http://127.0.0.1:9/v1"))
    monkeypatch.setattr(endpoint, "warm_connection", broken)
    with caplog.at_level(logging.DEBUG, logger="chat.turns.endpoint"):
        endpoint.warm()  # no exception: the request reports what goes wrong
    (record,) = caplog.records
    assert record.getMessage() == "no upstream connection opened ahead"
    assert record.exc_info is not None and "no loop" in str(record.exc_info[1])


async def test_the_configured_connect_timeout_bounds_a_connection_opened_ahead(server, monkeypatch):
    asked: list[tuple] = []
    real_connect = Pool._connect

    async def connect(self, key, connect_timeout):
        asked.append((key, connect_timeout))
        return await real_connect(self, key, connect_timeout)

    monkeypatch.setattr(Pool, "_connect", connect)
    monkeypatch.setattr(bare, "uses_proxy", lambda url: False)
    loop = asyncio.get_running_loop()
    warm_connection(UpstreamConfig(base_url=server.url(), connect_timeout=2.5))
    await raw.until(lambda: server.connections == 1)
    assert asked == [(key(server), 2.5)]
    pool.close_pool(loop)


async def test_no_connection_ahead_where_the_proxy_settings_send_it_through_a_proxy(
    server, monkeypatch
):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # but not for this host: straight there
    loop = asyncio.get_running_loop()
    warm_connection(UpstreamConfig(base_url=server.url()))
    await raw.until(lambda: server.connections == 1)
    pool.close_pool(loop)
    monkeypatch.setenv("NO_PROXY", "")
    warm_connection(UpstreamConfig(base_url=server.url()))  # through the proxy: httpx's
    assert not pool.pool_for(loop, 1000)._warming
    pool.close_pool(loop)


async def test_with_as_many_idle_connections_as_kept_none_is_opened_ahead(server, monkeypatch):
    p = Pool(asyncio.get_running_loop(), 10)
    monkeypatch.setattr(p, "idle_count", lambda: pool.IDLE_LIMIT)
    p.warm(key(server), 1.0)
    assert p.open == 0 and not p._warming


async def test_a_connection_opened_ahead_that_the_server_closes_leaves_the_pool(server):
    p = Pool(asyncio.get_running_loop(), 10)
    p.warm(key(server), 1.0)
    await raw.until(lambda: p.idle_count() == 1)
    await server.close_connections()
    await raw.until(lambda: p.idle_count() == 0)
    assert p.open == 0
    p.close()
