"""Keep-alive connections for the bare reader (wire.py): one pool per event loop.

At most `limit` connections are open at once (UPSTREAM_MAX_CONNECTIONS), counting those in
use, those idle and those being opened; a request past the limit waits for one to come back
(the caller's first-event deadline bounds the wait). Idle connections are reused last-in
first-out, at most IDLE_LIMIT of them kept, each for at most KEEPALIVE_EXPIRY seconds (httpx's
defaults); one the server closed while idle leaves the pool at once.

TLS uses the trust httpx would use (httpx.create_ssl_context: SSL_CERT_FILE, SSL_CERT_DIR,
else certifi's bundle), so switching transports changes no certificate decisions.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import weakref
from collections import deque

import httpx

from chat.upstream.wire import Wire

KEEPALIVE_EXPIRY = 5.0
IDLE_LIMIT = 100

Key = tuple[str, str, int]  # (scheme, host, port)


class Pool:
    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self.limit = max(1, limit)
        self.open = 0  # connections counted against the limit
        self._loop = loop
        self._idle: dict[Key, list[Wire]] = {}
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._warming: dict[Key, asyncio.Task[Wire]] = {}  # opened ahead of a request (warm)
        self._closed = False

    def idle_count(self) -> int:
        return sum(len(wires) for wires in self._idle.values())

    async def acquire(self, key: Key, connect_timeout: float) -> tuple[Wire, bool]:
        """A connection to `key` and whether it was reused; OSError/TimeoutError from connect."""
        while True:
            wire = self._take_idle(key)
            if wire is not None:
                return wire, True
            warming = self._warming.get(key)
            if warming is not None:  # nearly open: wait for it rather than open another
                await asyncio.wait([warming])  # (a cancelled caller leaves it to the pool)
                continue
            if self.open >= self.limit:
                self._drop_oldest_idle()  # another host's idle connection yields its place
            if self.open < self.limit:
                self.open += 1
                try:
                    return await self._connect(key, connect_timeout), False
                except BaseException:
                    self._forget_one()
                    raise
            await self._wait_for_room()

    def warm(self, key: Key, connect_timeout: float) -> None:
        """Open a connection to `key` ahead of a request about to be made (a turn being
        planned, chat/turns/endpoint.py), unless one is idle or being opened already: the
        connect (a TLS handshake: round trips to the server) then overlaps the plan's
        database work instead of following it. Never raises; a failed one frees its place."""
        if (
            self._closed
            or key in self._warming
            or self.open >= self.limit
            or self.idle_count() >= IDLE_LIMIT
            or self._has_idle(key)
        ):
            return
        self.open += 1
        task = self._loop.create_task(self._connect(key, connect_timeout))
        self._warming[key] = task
        # Added before any waiter's callback: the connection is idle when they wake.
        task.add_done_callback(functools.partial(self._warmed, key))

    def _warmed(self, key: Key, task: asyncio.Task[Wire]) -> None:
        del self._warming[key]
        if task.cancelled() or task.exception() is not None or self._closed:
            if not task.cancelled() and task.exception() is None:
                task.result().close()
            self._forget_one()
            return
        wire = task.result()
        wire.idle_since = self._loop.time()
        wire.on_lost = self._lost_while_idle
        self._idle.setdefault(key, []).append(wire)
        self._wake_one()

    def _has_idle(self, key: Key) -> bool:
        now = self._loop.time()
        return any(
            wire.alive and now - wire.idle_since < KEEPALIVE_EXPIRY
            for wire in self._idle.get(key, ())
        )

    def release(self, wire: Wire, reuse: bool) -> None:
        """Back from a request: kept for the next one when it is clean, else closed."""
        if reuse and not self._closed and wire.reusable and self.idle_count() < IDLE_LIMIT:
            wire.idle_since = self._loop.time()
            wire.on_lost = self._lost_while_idle
            self._idle.setdefault(wire.key, []).append(wire)
            self._wake_one()  # a waiter for this host can take it
            return
        wire.close()
        self._forget_one()

    def close(self) -> None:
        """Close the idle connections; those in use close when their requests end."""
        self._closed = True
        for task in self._warming.values():
            task.cancel()  # its callback gives its place back
        for wires in self._idle.values():
            for wire in wires:
                wire.on_lost = None
                wire.close()
                self.open -= 1
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # -- helpers --

    def _take_idle(self, key: Key) -> Wire | None:
        wires = self._idle.get(key)
        now = self._loop.time()
        while wires:
            wire = wires.pop()
            wire.on_lost = None
            if wire.alive and now - wire.idle_since < KEEPALIVE_EXPIRY:
                return wire
            wire.close()
            self.open -= 1
        return None

    def _drop_oldest_idle(self) -> None:
        oldest: Wire | None = None
        for wires in self._idle.values():
            if wires and (oldest is None or wires[0].idle_since < oldest.idle_since):
                oldest = wires[0]
        if oldest is not None:
            self._idle[oldest.key].remove(oldest)
            oldest.on_lost = None
            oldest.close()
            self.open -= 1

    def _lost_while_idle(self, wire: Wire) -> None:
        wires = self._idle.get(wire.key)
        if wires and wire in wires:
            wires.remove(wire)
            wire.on_lost = None
            self._forget_one()

    def _forget_one(self) -> None:
        self.open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _wait_for_room(self) -> None:
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # we were woken but leave: pass the turn on
            raise

    async def _connect(self, key: Key, connect_timeout: float) -> Wire:
        scheme, host, port = key
        tls = _ssl_context() if scheme == "https" else None
        async with asyncio.timeout(connect_timeout):
            _, wire = await self._loop.create_connection(
                lambda: Wire(self._loop, key),
                host,
                port,
                ssl=tls,
                server_hostname=host if tls is not None else None,
            )
        return wire


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pool] = weakref.WeakKeyDictionary()
_contexts: dict[tuple[str, str], ssl.SSLContext] = {}


def pool_for(loop: asyncio.AbstractEventLoop, limit: int) -> Pool:
    """The running loop's pool (tests run one loop per test; a server process one loop)."""
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = Pool(loop, limit)
    return pool


def close_pool(loop: asyncio.AbstractEventLoop) -> None:
    pool = _pools.pop(loop, None)
    if pool is not None:
        pool.close()


def _ssl_context() -> ssl.SSLContext:
    """httpx's default verification, made once per trust setting (a context costs ~ms)."""
    where = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    context = _contexts.get(where)
    if context is None:
        context = _contexts[where] = httpx.create_ssl_context()
        context.set_alpn_protocols(["http/1.1"])
    return context
