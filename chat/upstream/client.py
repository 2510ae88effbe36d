"""Streaming `POST /responses` and its resume (responses-protocol.md §1, §5, §8).

Streams are read by the bare reader (bare.py: an httptools protocol and a keep-alive pool per
event loop), about 7 µs of CPU per upstream delta where httpx over aiohttp cost 31-36 µs
(issue 12). httpx stays the client everything else uses (cancel, health, titles' callers):
one shared client per event loop, with the aiohttp transport; a stream goes through it too
when the caller passes its own client or the environment names a proxy for the host.

The read path is the per-event hot path of the whole relay (`python -m bench.parts`): raw
chunks (body.py), SSE framing in bulk on bytes (sse.py), a fast path for plain events
(events.py), one watchdog timer per stream instead of a timeout context per event.
"""

import asyncio
import logging
import random
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

from chat.upstream import bare, errors
from chat.upstream.answers import MAX_ERROR_BODY, http_error
from chat.upstream.bare import WireResponse
from chat.upstream.body import Body, NotAnEventStream, StreamExpired
from chat.upstream.errors import UpstreamError
from chat.upstream.events import TERMINAL_TYPES, StreamEvent, parse_event
from chat.upstream.pool import close_pool
from chat.upstream.sse import SSEFramer
from chat.upstream.wire import WireError

log = logging.getLogger(__name__)

# A stream may end after one of these; ending before is a cut (an error frame may be the last).
_ENDINGS = TERMINAL_TYPES | {"error"}
# Events handed on between two turns given to the event loop. A read that finds data already
# buffered returns without suspending, so a server sending 100 000 events at once would hold
# the loop (and every other person's stream) for seconds; yielding every 64 events costs
# ~0.1 µs an event and bounds a stall to 64 events' work (issue 13).
YIELD_EVERY = 64
# A chunk is framed at most this many bytes at a time: a server writing 10 MB at once hands us
# chunks of megabytes, and framing one is a Python loop over all its events (0.3 s measured).
MAX_FEED = 65_536

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class UpstreamConfig:
    base_url: str
    api_key: str = ""
    connect_timeout: float = 5.0
    first_event_timeout: float = 120.0
    idle_timeout: float = 60.0
    max_retries: int = 2
    max_retry_wait: float = 20.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, base_url: str) -> "UpstreamConfig":
        from django.conf import settings

        return cls(
            base_url=base_url.rstrip("/"),
            api_key=settings.OPENAI_API_KEY,
            connect_timeout=settings.UPSTREAM_CONNECT_TIMEOUT,
            first_event_timeout=settings.UPSTREAM_FIRST_EVENT_TIMEOUT,
            idle_timeout=settings.UPSTREAM_IDLE_TIMEOUT,
            max_retries=settings.UPSTREAM_MAX_RETRIES,
            max_retry_wait=settings.UPSTREAM_MAX_RETRY_WAIT,
            max_connections=settings.UPSTREAM_MAX_CONNECTIONS,
        )

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def shared_client(config: UpstreamConfig) -> httpx.AsyncClient:
    """The process's client for the running loop (tests run one loop per test).

    With a proxy in the environment, httpx's own transport: given a transport of ours httpx
    ignores the proxy variables, and aiohttp is told none (before issue 12 a configured
    proxy was silently bypassed); httpx's applies them per URL, NO_PROXY included."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        limits = httpx.Limits(
            max_connections=config.max_connections,
            max_keepalive_connections=min(config.max_connections, 100),
        )
        if bare.proxy_configured():
            client = httpx.AsyncClient(limits=limits)
        else:
            client = httpx.AsyncClient(transport=AiohttpTransport(limits=limits), limits=limits)
        _clients[loop] = client
    return client


async def close_shared_client() -> None:
    """Close this loop's httpx client and the bare reader's idle connections."""
    loop = asyncio.get_running_loop()
    close_pool(loop)
    client = _clients.pop(loop, None)
    if client is not None:
        await client.aclose()


def stream_response(
    body: dict[str, Any], *, config: UpstreamConfig, client: httpx.AsyncClient | None = None
) -> AsyncIterator[StreamEvent]:
    """Create a response with `stream: true` and yield its events (§1).

    Retries (bounded, honouring retry-after) only before the first event: after that a
    retry would duplicate text. Raises UpstreamError for every failure.
    """
    # The generator itself, not a wrapper: every generator level costs CPU on every event.
    request_body = orjson.dumps({**body, "stream": True})
    return _stream_with_retries(
        "POST", f"{config.base_url}/responses", request_body, config, client
    )


def warm_connection(config: UpstreamConfig) -> None:
    """Open a connection to the model server ahead of a stream about to be asked for (its
    plan is being made), where streams use the bare reader (no proxy)."""
    url = f"{config.base_url}/responses"
    if not bare.uses_proxy(url):
        bare.warm(url, connect_timeout=config.connect_timeout,
                  max_connections=config.max_connections)  # fmt: skip


def resume_stream(
    response_id: str,
    *,
    starting_after: int | None,
    config: UpstreamConfig,
    client: httpx.AsyncClient | None = None,
) -> AsyncIterator[StreamEvent]:
    """Resume a background response's stream after sequence number N (§5)."""
    url = f"{config.base_url}/responses/{response_id}?stream=true"
    if starting_after is not None:
        url += f"&starting_after={starting_after}"
    return _stream_with_retries("GET", url, None, config, client)


async def cancel_response(
    response_id: str, *, config: UpstreamConfig, client: httpx.AsyncClient | None = None
) -> None:
    """Cancel a background response (§5); idempotent upstream, best effort here."""
    client = client or shared_client(config)
    headers = {k: v for k, v in config.headers().items() if k == "Authorization"}
    try:
        await client.post(
            f"{config.base_url}/responses/{response_id}/cancel",
            headers=headers,
            timeout=httpx.Timeout(config.connect_timeout * 2),
        )
    except httpx.HTTPError as exc:
        log.warning("cancel of %s failed: %s", response_id, exc)


async def _stream_with_retries(
    method: str,
    url: str,
    content: bytes | None,
    config: UpstreamConfig,
    client: httpx.AsyncClient | None,
) -> AsyncIterator[StreamEvent]:
    # httpx when the caller chose a client (tests' mock transports) or a proxy is configured.
    use_bare = client is None and not bare.uses_proxy(url)
    if not use_bare:
        client = client or shared_client(config)
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        seen_event = False
        first_deadline = loop.time() + config.first_event_timeout
        try:
            response: httpx.Response | WireResponse
            if client is None:
                response = await _open_bare(method, url, content, config, first_deadline)
            else:
                response = await _open(client, method, url, content, config, first_deadline)
            events = _read_events(response, config, first_deadline)
            try:
                async for event in events:
                    if not seen_event:
                        seen_event = True
                        content = None  # no retry after an event: the body need not stay
                    yield event
            finally:
                await events.aclose()  # at once, not when collected: it stops the watchdog
                # Closing the response closes the connection at once, which cancel relies on.
                await response.aclose()
            return
        except UpstreamError as err:
            if seen_event or not err.retryable or attempt >= config.max_retries:
                raise
            delay = err.retry_after if err.retry_after is not None else _backoff(attempt)
            if delay > config.max_retry_wait:
                raise
            attempt += 1
            log.info("upstream %s; retry %d in %.2fs", err, attempt, delay)
            await asyncio.sleep(delay)


async def _open_bare(
    method: str, url: str, content: bytes | None, config: UpstreamConfig, first_deadline: float
) -> WireResponse:
    headers = config.headers()
    if content is not None:
        headers["Content-Type"] = "application/json"
    return await bare.open_stream(
        method,
        url,
        content,
        headers,
        connect_timeout=config.connect_timeout,
        max_connections=config.max_connections,
        api_key=config.api_key,
        deadline=first_deadline,
    )


async def _open(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    content: bytes | None,
    config: UpstreamConfig,
    first_deadline: float,
) -> httpx.Response:
    """Send the request; a 200 answer is returned open for reading, anything else raised."""
    headers = config.headers()
    if content is not None:
        headers["Content-Type"] = "application/json"
    request = client.build_request(
        method,
        url,
        content=content,
        headers=headers,
        timeout=httpx.Timeout(config.connect_timeout, read=None, pool=config.first_event_timeout),
    )
    response = await _send(client, request, first_deadline)
    if response.status_code == 200:
        return response
    try:
        raise await _http_error(response, first_deadline, config)
    finally:
        await response.aclose()


async def _send(
    client: httpx.AsyncClient, request: httpx.Request, deadline: float
) -> httpx.Response:
    try:
        async with asyncio.timeout_at(deadline):
            return await client.send(request, stream=True)
    except TimeoutError:
        raise UpstreamError(
            errors.FIRST_EVENT_TIMEOUT, "The model server did not answer in time."
        ) from None
    except httpx.HTTPError as exc:
        if _is_timeout(exc):
            raise UpstreamError(
                errors.CONNECT_TIMEOUT, "Connecting to the model server timed out."
            ) from None
        log.warning("upstream unreachable: %s", errors.redact(_describe(exc)))
        raise UpstreamError(errors.CONNECT, "Could not reach the model server.") from None


async def _read_events(
    response: httpx.Response | WireResponse, config: UpstreamConfig, first_deadline: float
) -> AsyncIterator[StreamEvent]:
    """Yield parsed events; the deadlines bound only the reads, never our caller's work."""
    loop = asyncio.get_running_loop()
    body: Body | bare.WireBody
    try:
        if isinstance(response, WireResponse):
            body = response.body(loop, first_deadline, config.idle_timeout)
        else:
            body = Body(response, loop, first_deadline, config.idle_timeout)
    except NotAnEventStream as exc:
        raise UpstreamError(
            errors.PROTOCOL,
            f"The model server did not send an event stream ({errors.redact(str(exc)[:200])}).",
        ) from None
    watchdog, read, framer = body.watchdog, body.read, SSEFramer()
    saw_end = False
    budget = YIELD_EVERY
    try:
        while True:
            try:
                chunk = await read()
            except StreamExpired:
                kind = watchdog.kind
                raise UpstreamError(kind, _timeout_message(kind, config)) from None
            except (WireError, aiohttp.ClientError, httpx.HTTPError) as exc:
                log.warning("upstream stream broke: %s", errors.redact(_describe(exc)))
                raise UpstreamError(
                    errors.STREAM_CUT, "The connection to the model server broke."
                ) from None
            for piece in (chunk,) if len(chunk) <= MAX_FEED else _slices(chunk):
                batch = framer.feed(piece) if piece else framer.close()
                if batch:
                    if watchdog.last is None:
                        watchdog.first_event(loop.time())
                    else:
                        watchdog.last = loop.time()  # the whole per-event cost of the timeouts
                for data in batch:
                    if not data or data.startswith(b"[DONE]"):
                        continue
                    event = parse_event(data)
                    if event.type in _ENDINGS:
                        saw_end = True
                    yield event
                    budget -= 1
                    if not budget:
                        budget = YIELD_EVERY
                        watchdog.last = loop.time()  # still working through what came
                        await asyncio.sleep(0)  # let other streams run (see YIELD_EVERY)
            if not chunk:
                break
    finally:
        await body.aclose()
    if not saw_end:
        raise UpstreamError(
            errors.STREAM_CUT, "The model server ended the stream before the answer was finished."
        )


def _slices(chunk: bytes) -> list[bytes]:
    return [chunk[start : start + MAX_FEED] for start in range(0, len(chunk), MAX_FEED)]


def _timeout_message(kind: str, config: UpstreamConfig) -> str:
    if kind == errors.FIRST_EVENT_TIMEOUT:
        return f"The model server sent nothing for {config.first_event_timeout:g} s."
    return f"The model server stopped sending for {config.idle_timeout:g} s."


async def _http_error(
    response: httpx.Response, deadline: float, config: UpstreamConfig
) -> UpstreamError:
    """The error a non-200 httpx answer stands for (answers.http_error)."""
    try:
        async with asyncio.timeout_at(max(deadline, asyncio.get_running_loop().time() + 5)):
            raw = await _read_some(response, MAX_ERROR_BODY)
    except (TimeoutError, httpx.HTTPError):
        raw = b""
    reason = response.reason_phrase
    return http_error(response.status_code, reason, response.headers, raw, config.api_key)


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    """At most `limit` bytes of the body: an error answer can be as large as it likes."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _backoff(attempt: int) -> float:
    base = min(8.0, 0.5 * 2**attempt)
    return base * (1 - random.random() * 0.25)


def _is_timeout(exc: httpx.HTTPError) -> bool:
    """httpx-aiohttp maps a refused connection to ConnectTimeout; ask the aiohttp cause."""
    cause = exc.__cause__
    if cause is not None:
        return isinstance(cause, TimeoutError) or "Timeout" in type(cause).__name__
    return isinstance(exc, httpx.TimeoutException)


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
