"""The SSE framer bounds one event's size: a larger one is dropped as it streams in (never
buffered whole) and reported once as malformed; the events around it are read as usual."""

import pytest

from chat.upstream import sse
from chat.upstream.events import MALFORMED, parse_event
from chat.upstream.sse import SSEFramer

GOOD = b'data: {"type":"response.output_text.delta","delta":"ok"}\n\n'


@pytest.fixture(autouse=True)
def small_limit(monkeypatch):
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 1000)


def feed_all(framer: SSEFramer, chunks: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out += framer.feed(chunk)
        assert framer._size <= sse.MAX_EVENT_BYTES + max(map(len, chunks))
    return out + framer.close()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [7, 100, 999])  # the client feeds at most 64 KB at a time
def test_a_too_large_event_is_one_malformed_event_between_good_ones(size):
    huge = b'data: {"type":"response.output_text.delta","delta":"' + b"x" * 4000 + b'"}\n\n'
    out = feed_all(SSEFramer(), pieces(GOOD + huge + GOOD + GOOD, size))
    assert out == [GOOD[6:-2], sse.TOO_LARGE, GOOD[6:-2], GOOD[6:-2]]
    assert parse_event(out[1]).type == MALFORMED


def test_crlf_streams_and_a_too_large_last_event():
    huge = b"data: " + b"y" * 3000 + b"\r\n\r\n"
    out = feed_all(SSEFramer(), pieces(GOOD.replace(b"\n", b"\r\n") + huge, 64))
    assert out == [GOOD[6:-2], sse.TOO_LARGE]


def test_events_under_the_limit_are_untouched():
    event = b"data: " + b"z" * 900 + b"\n\n"
    assert feed_all(SSEFramer(), pieces(event * 3, 50)) == [event[6:-2]] * 3
