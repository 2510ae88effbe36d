"""How long a server asks us to wait (chat.upstream.answers.retry_after, §8.2): the
`retry-after-ms` header first, then `retry-after` as seconds or an HTTP date; never below
zero, and nothing at all for a value we cannot read (issue 13's mutation pass)."""

import email.utils
import time

import pytest

from chat.upstream import errors
from chat.upstream.answers import http_error, retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": ""}, None),
        ({"retry-after-ms": ""}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),  # below a second: not rounded up to one
        ({"retry-after-ms": "-40"}, 0.0),  # the floor
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "tomorrow"}, None),  # neither seconds nor a date
        ({"retry-after": "Mon, 99 Foo 2026 25:61:00 GMT"}, None),
        # milliseconds win over seconds; unreadable milliseconds fall back to seconds
        ({"retry-after-ms": "100", "retry-after": "9"}, 0.1),
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "soon"}, None),
    ],
)
def test_retry_after_values(headers, expected):
    assert retry_after(headers) == expected


def test_an_http_date_is_the_time_left_until_it():
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    waited = retry_after({"retry-after": soon})
    assert waited is not None and 28.0 < waited <= 30.0


def test_a_past_http_date_is_no_wait():
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert retry_after({"retry-after": past}) == 0.0


def test_an_error_answer_carries_the_wait():
    err = http_error(429, "Too Many", {"retry-after-ms": "1200"}, b"", "k")
    assert (err.kind, err.status, err.retry_after) == (errors.HTTP, 429, 1.2)
    assert http_error(503, "Busy", {}, b"", "k").retry_after is None
