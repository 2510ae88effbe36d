"""The bare reader's connection pool (chat.upstream.pool) driven directly against loopback
servers (issue 13's mutation pass): which idle connection yields its place at the limit,
what closing the pool closes, the idle bound, and waiters that give up their turn."""

import asyncio

import pytest

from chat.upstream import pool
from chat.upstream.pool import Pool
from chat.upstream.wire import Wire
from tests import raw_http as raw
from tests.raw_http import RawServer
from tests.test_upstream_wire import drain

pytestmark = pytest.mark.timeout(30)
REQUEST = b"GET /v1/x HTTP/1.1\r\nhost: x\r\n\r\n"
OK = raw.reply(raw.head("200 OK", "content-length: 2") + b"ok")  # kept alive


def key(server: RawServer) -> pool.Key:
    return ("http", "127.0.0.1", server.port)


async def answer(wire: Wire) -> None:
    """One whole request and answer, which leaves the connection reusable."""
    wire.send(REQUEST)
    await wire.head()
    assert await drain(wire) == b"ok"


async def use(p: Pool, server: RawServer) -> tuple[Wire, bool]:
    wire, reused = await p.acquire(key(server), 1.0)
    await answer(wire)
    p.release(wire, True)
    return wire, reused


@pytest.fixture
async def servers():
    async with RawServer() as a, RawServer() as b, RawServer() as c:
        for s in (a, b, c):
            s.script(*[OK] * 10)
        yield a, b, c


async def test_at_the_limit_the_oldest_idle_connection_of_another_host_yields(servers):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 2)
    wa, _ = await use(p, a)
    wb, _ = await use(p, b)
    wc, reused = await use(p, c)  # full: A's connection, idle the longest, is closed for it
    assert not reused
    assert (p.open, p.idle_count()) == (2, 2)
    assert not wa.alive and wb.alive and wc.alive
    await raw.until(lambda: a.open_now == 0)
    assert (b.open_now, c.open_now) == (1, 1)
    assert await use(p, b) == (wb, True)  # the younger one was kept
    p.close()


async def test_an_emptied_host_is_passed_over_when_choosing_the_oldest(servers):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 2)
    wa, _ = await use(p, a)
    await use(p, b)
    wb, reused = await p.acquire(key(b), 1.0)  # B's idle list is now empty, not gone
    assert reused
    wc, _ = await use(p, c)
    assert not wa.alive and wc.alive
    assert (p.open, p.idle_count()) == (2, 1)
    await answer(wb)
    p.release(wb, True)
    p.close()


async def test_the_oldest_of_one_hosts_idle_connections_yields(servers):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 2)
    first, _ = await p.acquire(key(a), 1.0)
    second, _ = await p.acquire(key(a), 1.0)
    assert first is not second
    for wire in (first, second):
        await answer(wire)
    p.release(first, True)
    await asyncio.sleep(0.01)  # a later idle_since, whatever the clock's resolution
    p.release(second, True)
    await use(p, b)
    assert not first.alive and second.alive
    assert await use(p, a) == (second, True)
    p.close()


async def test_closing_the_pool_closes_its_idle_connections(servers, caplog):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 5)
    wa, _ = await use(p, a)
    wb, _ = await use(p, b)
    busy, _ = await p.acquire(key(c), 1.0)
    assert (p.open, p.idle_count()) == (3, 2)
    with caplog.at_level("ERROR"):
        p.close()
        assert (p.open, p.idle_count()) == (1, 0)  # the one in use still counts
        assert not wa.alive and not wb.alive and busy.alive
        await raw.until(lambda: a.open_now == 0 and b.open_now == 0)
        await asyncio.sleep(0.05)  # the closed connections' own callbacks have run
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    await answer(busy)
    p.release(busy, True)  # back after the close: closed, not kept
    assert (p.open, p.idle_count()) == (0, 0)
    assert not busy.alive
    await raw.until(lambda: c.open_now == 0)


async def test_at_most_idle_limit_connections_are_kept(servers, monkeypatch):
    a, b, c = servers
    monkeypatch.setattr(pool, "IDLE_LIMIT", 1)
    p = Pool(asyncio.get_running_loop(), 5)
    first, _ = await p.acquire(key(a), 1.0)
    second, _ = await p.acquire(key(a), 1.0)
    for wire in (first, second):
        await answer(wire)
        p.release(wire, True)
    assert (p.open, p.idle_count()) == (1, 1)
    assert first.alive and not second.alive
    p.close()


async def test_a_connection_not_reused_gives_its_place_to_a_waiter(servers):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 1)
    held, _ = await p.acquire(key(a), 1.0)
    waiting = asyncio.create_task(p.acquire(key(a), 1.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    p.release(held, False)  # half-read, say: closed, never kept
    wire, reused = await asyncio.wait_for(waiting, 2)
    assert not reused and wire is not held and not held.alive
    assert p.open == 1
    p.release(wire, False)
    assert (p.open, p.idle_count()) == (0, 0)


async def test_a_woken_waiter_that_leaves_passes_its_turn_on(servers):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 1)
    held, _ = await p.acquire(key(a), 1.0)
    first = asyncio.create_task(p.acquire(key(a), 1.0))
    second = asyncio.create_task(p.acquire(key(a), 1.0))
    await asyncio.sleep(0.05)
    p.release(held, False)  # wakes the first waiter...
    first.cancel()  # ...which is cancelled before it runs
    wire, _ = await asyncio.wait_for(second, 2)  # the turn went on, not lost
    with pytest.raises(asyncio.CancelledError):
        await first
    assert p.open == 1
    p.release(wire, False)


async def test_one_pool_per_loop_and_a_limit_of_at_least_one(servers):
    loop = asyncio.get_running_loop()
    assert Pool(loop, 0).limit == 1 and Pool(loop, -3).limit == 1 and Pool(loop, 4).limit == 4
    pool.close_pool(loop)
    p = pool.pool_for(loop, 3)
    assert pool.pool_for(loop, 9) is p and p.limit == 3
    idle, _ = await use(p, servers[0])
    pool.close_pool(loop)
    assert not idle.alive and p.open == 0
    assert pool.pool_for(loop, 2) is not p
    pool.close_pool(loop)
    pool.close_pool(loop)  # none left: nothing to do


async def test_a_yielded_place_is_counted_once_and_logs_nothing(servers, caplog):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 3)
    first, _ = await p.acquire(key(a), 1.0)
    second, _ = await p.acquire(key(a), 1.0)
    for wire in (first, second):
        await answer(wire)
        p.release(wire, True)
    await use(p, b)
    with caplog.at_level("ERROR"):
        await use(p, c)  # full: A's oldest yields
        await raw.until(lambda: a.open_now == 1)
        await asyncio.sleep(0.05)  # the closed connection's own callbacks have run
    assert not first.alive and second.alive
    assert (p.open, p.idle_count()) == (3, 3)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    p.close()


async def test_a_waiter_that_leaves_unwoken_keeps_the_others_in_order(servers):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 1)
    held, _ = await p.acquire(key(a), 1.0)
    first = asyncio.create_task(p.acquire(key(a), 1.0))
    await asyncio.sleep(0.01)
    leaving = asyncio.create_task(p.acquire(key(a), 1.0))
    await asyncio.sleep(0.01)
    third = asyncio.create_task(p.acquire(key(a), 1.0))
    await asyncio.sleep(0.05)
    leaving.cancel()  # never woken: nobody else is woken for it
    await asyncio.sleep(0.05)
    p.release(held, False)
    done, _ = await asyncio.wait({first, third}, timeout=2, return_when=asyncio.FIRST_COMPLETED)
    assert done == {first}  # the first in line, still first
    wire, _ = first.result()
    p.release(wire, False)
    wire, _ = await asyncio.wait_for(third, 2)
    p.release(wire, False)
    assert leaving.cancelled()


async def test_closing_with_a_waiter_leaves_it_waiting_for_room(servers):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 1)
    held, _ = await p.acquire(key(a), 1.0)
    waiting = asyncio.create_task(p.acquire(key(a), 1.0))
    await asyncio.sleep(0.05)
    p.close()  # nothing idle to close; the waiter is woken and waits on
    await asyncio.sleep(0.05)
    assert not waiting.done()
    p.release(held, True)  # after the close: closed, its place given to the waiter
    wire, reused = await asyncio.wait_for(waiting, 2)
    assert not reused and wire is not held
    p.release(wire, False)
    assert p.open == 0


async def test_a_reused_connection_closing_later_logs_nothing(servers, caplog):
    a, b, c = servers
    p = Pool(asyncio.get_running_loop(), 2)
    first, _ = await use(p, a)
    with caplog.at_level("ERROR"):
        wire, reused = await p.acquire(key(a), 1.0)
        assert (wire, reused) == (first, True)
        wire.close()  # in use, then closed: the pool's idle hook is no longer on it
        await raw.until(lambda: a.open_now == 0)
        await asyncio.sleep(0.05)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    p.release(wire, True)
    assert (p.open, p.idle_count()) == (0, 0)
