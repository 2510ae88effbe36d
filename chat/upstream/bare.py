"""Stream requests over the bare reader (wire.py + pool.py) instead of httpx (issue 12).

Only the streaming path comes here (`POST /responses`, `GET /responses/{id}?stream=true`);
everything else, and every call that passes its own httpx client, stays on httpx. So does a
stream to a host that HTTPS_PROXY / HTTP_PROXY / ALL_PROXY send through a proxy (NO_PROXY
honoured, `uses_proxy`): the bare reader speaks no proxy protocol; with a proxy configured
the shared httpx client is httpx's own transport, which applies it (client.shared_client).

`open_stream` raises the same UpstreamError kinds the httpx path raises (CONNECT,
CONNECT_TIMEOUT, FIRST_EVENT_TIMEOUT, HTTP with our words); `WireBody` is body.Body's twin
for the read loop in client.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import urllib.request
import zlib
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlsplit

from chat.upstream import errors
from chat.upstream.answers import MAX_ERROR_BODY, http_error
from chat.upstream.body import NotAnEventStream, StreamExpired, Watchdog
from chat.upstream.errors import UpstreamError
from chat.upstream.pool import Key, Pool, pool_for
from chat.upstream.wire import HeadTooLarge, Wire, WireError

log = logging.getLogger("chat.upstream.client")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SAFE_PATH = "/%:@!$&'()*+,;=-._~"  # RFC 3986 pchar, and "%" to keep what is encoded


# What urllib reads of the environment for our schemes, both spellings, and the CGI guard
# under which it ignores HTTP_PROXY. Reading only these (not all of os.environ, as
# getproxies_environment does) keys a cache: ~1 % of the server's CPU was that scan, twice a turn.
_PROXY_VARIABLES = tuple(
    spelling
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    for spelling in (name, name.upper())
) + ("REQUEST_METHOD",)


def _proxy_environment() -> tuple[str | None, ...]:
    environ = os.environ
    return tuple(environ.get(name) for name in _PROXY_VARIABLES)


@functools.lru_cache(maxsize=64)
def _proxies(environment: tuple[str | None, ...]) -> dict[str, str]:
    return urllib.request.getproxies_environment()


def proxy_configured() -> bool:
    proxies = _proxies(_proxy_environment())
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def uses_proxy(url: str) -> bool:
    """Whether the environment sends this URL through a proxy (then httpx reads it)."""
    return _uses_proxy(url, _proxy_environment())


@functools.lru_cache(maxsize=256)
def _uses_proxy(url: str, environment: tuple[str | None, ...]) -> bool:
    proxies = _proxies(environment)
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(parts.hostname or "", proxies)


class WireResponse:
    """A 200 answer open for reading; `aclose()` gives the connection back (or closes it)."""

    __slots__ = ("wire", "headers", "_pool", "_closed")

    def __init__(self, pool: Pool, wire: Wire) -> None:
        self.wire, self.headers, self._pool, self._closed = wire, wire.headers, pool, False

    def body(self, loop: asyncio.AbstractEventLoop, first: float, idle: float) -> WireBody:
        return WireBody(self, loop, first, idle)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            # Reused only when read to its end: a stream left early (Stop, cancel, an error)
            # closes its connection at once, which is how the server learns to stop.
            self._pool.release(self.wire, reuse=True)


class WireBody:
    """`read()` gives the next raw chunk, b"" at the end; StreamExpired when the watchdog fires."""

    __slots__ = ("watchdog", "read", "_wire", "_inflate")

    def __init__(
        self, response: WireResponse, loop: asyncio.AbstractEventLoop, first: float, idle: float
    ) -> None:
        headers = response.headers
        content_type = headers.get("content-type", "").partition(";")[0]
        if "text/event-stream" not in content_type:
            raise NotAnEventStream(
                f"expected text/event-stream, got {content_type or 'no content type'!r}"
            )
        self._wire = wire = response.wire
        self.watchdog = Watchdog(loop, first, idle, self._abort)
        encoding = headers.get("content-encoding", "identity").strip().lower()
        self._inflate: Any = None
        if encoding in ("gzip", "x-gzip", "deflate"):
            # We ask for identity; a server that compresses anyway is read all the same.
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
            self.read: Callable[[], Coroutine[Any, Any, bytes]] = self._read_inflated
        elif encoding != "identity":
            raise NotAnEventStream(f"content-encoding {encoding[:40]!r} is not supported")
        else:
            self.read = wire.read  # the hot path: the protocol's own method, no frame of ours

    async def aclose(self) -> None:
        self.watchdog.stop()

    def _abort(self) -> None:
        self._wire.expire(StreamExpired())

    async def _read_inflated(self) -> bytes:
        # At most 64 KiB out per read (client.py's MAX_FEED): a small compressed body can
        # expand to gigabytes, and what is not yet inflated stays in the decompressor.
        inflate = self._inflate
        while True:
            if inflate.unconsumed_tail:
                out = inflate.decompress(inflate.unconsumed_tail, 65_536)
            else:
                data = await self._wire.read()
                if not data:
                    return inflate.flush()
                try:
                    out = inflate.decompress(data, 65_536)
                except zlib.error as exc:
                    raise WireError(f"bad compressed body: {exc}") from None
            if out:
                return out


def _target(url: str) -> tuple[Key, bytes, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise UpstreamError(errors.CONNECT, "The model server's address is not valid.")
    port = parts.port or _DEFAULT_PORTS[scheme]
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    # Percent-encoded as httpx would: a response id comes from the upstream (resume), and a
    # space or CR LF in it must not split our request line or add a header.
    path = quote(parts.path or "/", safe=_SAFE_PATH)
    if parts.query:
        path += "?" + quote(parts.query, safe=_SAFE_PATH + "?")
    return (scheme, host, port), path.encode("ascii"), authority


def _request(
    method: str, path: bytes, authority: str, headers: dict[str, str], content: bytes | None
) -> bytes:
    lines = [method.encode("ascii") + b" " + path + b" HTTP/1.1", b"Host: " + authority.encode()]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers.items()]
    lines.append(b"Accept-Encoding: identity")
    if content is not None:
        lines.append(b"Content-Length: " + str(len(content)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + (content or b"")


def warm(url: str, *, connect_timeout: float, max_connections: int) -> None:
    """Open a connection for a request to `url` about to be made (pool.py's `warm`); an
    address that is not valid is left for the request itself to report."""
    try:
        key, _path, _authority = _target(url)
    except UpstreamError:
        return
    pool_for(asyncio.get_running_loop(), max_connections).warm(key, connect_timeout)


async def open_stream(
    method: str,
    url: str,
    content: bytes | None,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    max_connections: int,
    api_key: str,
    deadline: float,
) -> WireResponse:
    """Send the request; a 200 answer is returned open for reading, anything else raised.
    `deadline` bounds everything up to the head (the pool wait included), as with httpx."""
    loop = asyncio.get_running_loop()
    pool = pool_for(loop, max_connections)
    key, path, authority = _target(url)
    request = _request(method, path, authority, headers, content)
    try:
        async with asyncio.timeout_at(deadline):
            wire = await _send(pool, key, request, connect_timeout)
    except TimeoutError:
        raise UpstreamError(
            errors.FIRST_EVENT_TIMEOUT, "The model server did not answer in time."
        ) from None
    response = WireResponse(pool, wire)
    if wire.status == 200:
        return response
    try:
        raw = await _read_error_body(wire, max(deadline, loop.time() + 5))
        reason = wire.reason.decode("latin-1", "replace").strip()
        raise http_error(wire.status, reason, wire.headers, raw, api_key)
    finally:
        await response.aclose()


async def _send(pool: Pool, key: Key, request: bytes, connect_timeout: float) -> Wire:
    """A connection with the answer's head read. A reused connection the server had closed
    meanwhile fails before any answer: that request is sent again, once (on the next idle
    connection or a fresh one; a second such failure is a connect error, which the caller
    may retry after its backoff)."""
    for attempt in range(2):
        wire, reused = await _connect(pool, key, connect_timeout)
        try:
            wire.send(request)
            await wire.head()
            return wire
        except HeadTooLarge:
            pool.release(wire, reuse=False)
            log.warning("upstream answer's head is over the size we read")
            raise UpstreamError(
                errors.PROTOCOL, "The model server's answer had oversized headers."
            ) from None
        except WireError as exc:
            pool.release(wire, reuse=False)
            if reused and not wire.status and attempt == 0:
                continue
            log.warning("upstream unreachable: %s", errors.redact(str(exc)))
            raise UpstreamError(errors.CONNECT, "Could not reach the model server.") from None
        except BaseException:
            pool.release(wire, reuse=False)
            raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _connect(pool: Pool, key: Key, connect_timeout: float) -> tuple[Wire, bool]:
    try:
        return await pool.acquire(key, connect_timeout)
    except TimeoutError:
        # Only the connect's own timeout lands here: the caller's deadline is an outer
        # `timeout_at`, which turns its expiry into TimeoutError only once it leaves it.
        raise UpstreamError(
            errors.CONNECT_TIMEOUT, "Connecting to the model server timed out."
        ) from None
    except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
        log.warning("upstream unreachable: %s", errors.redact(str(exc) or type(exc).__name__))
        raise UpstreamError(errors.CONNECT, "Could not reach the model server.") from None


async def _read_error_body(wire: Wire, deadline: float) -> bytes:
    """At most MAX_ERROR_BODY bytes: an error answer can be as large as it likes."""
    chunks, size = [], 0
    try:
        async with asyncio.timeout_at(deadline):
            while size < MAX_ERROR_BODY and (chunk := await wire.read()):
                chunks.append(chunk)
                size += len(chunk)
    except (TimeoutError, WireError):
        pass
    return b"".join(chunks)[:MAX_ERROR_BODY]
