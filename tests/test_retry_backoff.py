"""The upstream client's small rules: the retry back-off (doubling from 0.5 s, at most 8 s,
up to a quarter less at random so that retries spread), which failures count as timeouts
(the aiohttp cause decides, as httpx-aiohttp maps a refused connection to ConnectTimeout),
and how an exception is described in the log."""

import random

import httpx

from chat.upstream.client import _backoff, _describe, _is_timeout
from chat.upstream.errors import UpstreamError


def test_backoff_doubles_up_to_eight_seconds_less_up_to_a_quarter():
    rng = random.getstate()
    random.seed(13)
    try:
        for attempt in range(8):
            base = min(8.0, 0.5 * 2**attempt)
            delays = [_backoff(attempt) for _ in range(2000)]
            assert all(0.75 * base <= d <= base for d in delays), attempt
            # The jitter really spreads over the whole quarter.
            assert min(delays) < 0.76 * base and max(delays) > 0.99 * base
    finally:
        random.setstate(rng)


def test_backoff_values():
    assert 0.375 <= _backoff(0) <= 0.5
    assert 6.0 <= _backoff(4) <= 8.0
    assert 6.0 <= _backoff(30) <= 8.0


class ServerTimeoutLike(OSError):
    """aiohttp names its timeouts ...Timeout...; not every one need be a TimeoutError."""


class Expired(TimeoutError):
    """A TimeoutError whose name does not say so."""


def failure(exc: httpx.HTTPError, cause: BaseException | None) -> httpx.HTTPError:
    exc.__cause__ = cause
    return exc


def test_the_cause_decides_what_is_a_timeout():
    assert _is_timeout(failure(httpx.ConnectTimeout("x"), TimeoutError()))
    assert _is_timeout(failure(httpx.ConnectTimeout("x"), Expired()))
    assert _is_timeout(failure(httpx.ConnectError("x"), ServerTimeoutLike()))
    # A refused connection, reported by httpx-aiohttp as ConnectTimeout, is not a timeout.
    assert not _is_timeout(failure(httpx.ConnectTimeout("x"), ConnectionRefusedError()))


def test_without_a_cause_the_httpx_type_decides():
    assert _is_timeout(failure(httpx.ReadTimeout("x"), None))
    assert not _is_timeout(failure(httpx.ConnectError("x"), None))


def test_describe_is_the_message_or_the_type():
    assert _describe(ValueError("boom")) == "boom"
    assert _describe(httpx.ConnectError("")) == "ConnectError"


def test_an_upstream_error_logs_as_its_status_else_its_kind():
    assert str(UpstreamError("http", "Rate limited.", status=429)) == "HTTP 429: Rate limited."
    assert str(UpstreamError("connect", "Could not reach it.")) == "connect: Could not reach it."
