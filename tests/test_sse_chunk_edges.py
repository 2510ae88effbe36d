"""Where the network cuts an SSE stream, checked call by call (issue 13's mutation pass over
chat.upstream.sse, fast enough to run once per mutant): a blank line split from its event,
what is held after a cut, and the size bound at exactly its limit."""

import pytest

from chat.upstream import sse
from chat.upstream.sse import SSEFramer

LIMIT = 1000


@pytest.fixture(autouse=True)
def small_limit(monkeypatch):
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", LIMIT)


def test_a_blank_line_alone_in_the_next_chunk_ends_the_event_at_once():
    framer = SSEFramer()
    assert framer.feed(b"data: a\n") == []
    assert framer.feed(b"\n") == [b"a"]  # not held until more comes
    assert framer.feed(b"data: b\n") == []
    assert framer.feed(b"\ndata: c\n") == [b"b"]
    assert framer.close() == [b"c"]


def test_only_what_follows_the_last_blank_line_is_held():
    framer = SSEFramer()
    assert framer.feed(b"data: a\n\nid\n\ndata: b") == [b"a", b""]
    assert framer.feed(b"\n\n") == [b"b"]  # the `id` block is not seen twice
    assert framer.close() == []


def test_an_event_of_exactly_the_limit_is_read():
    body = b"data: " + b"x" * (LIMIT - 6)
    framer = SSEFramer()
    assert framer.feed(b"data: a\n") == []
    assert framer.feed(b"\n") == [b"a"]  # the count starts again from nothing
    assert framer.feed(body) == []
    assert framer.feed(b"\n\n") == [body[6:]]
    # the same, held after events in one chunk
    framer = SSEFramer()
    assert framer.feed(b"data: a\n\n" + body) == [b"a"]
    assert framer.feed(b"\n\n") == [body[6:]]


def test_one_byte_over_the_limit_is_too_large():
    body = b"data: " + b"x" * (LIMIT - 5)
    framer = SSEFramer()
    assert framer.feed(body) == [sse.TOO_LARGE]  # reported as soon as it is over
    assert framer.feed(b"\n\ndata: after\n\n") == [b"after"]
    assert framer.close() == []


def test_events_before_a_too_large_remainder_in_one_chunk_are_kept():
    huge = b"data: " + b"x" * (2 * LIMIT)
    framer = SSEFramer()
    out = framer.feed(b"data: a\n\nevent: e\ndata: b\n\n" + huge)
    assert out == [b"a", b"b", sse.TOO_LARGE]
    assert framer.feed(b"more of it\n\ndata: c\n\n") == [b"c"]
    assert framer.close() == []


def test_a_chunk_ending_in_a_blank_line_with_cr_endings_inside():
    # It ends like the usual chunk, but its lone \r and \r\n must be line ends too.
    framer = SSEFramer()
    assert framer.feed(b"data: a\r\rdata: b\r\n\r\ndata: c\n\n") == [b"a", b"b", b"c"]


@pytest.mark.parametrize(
    ("block", "data"),
    [
        (b"event: x\ndata: a\ndata: b\n\n", [b"a\nb"]),  # two data lines after the type
        (b"event: x\nddata: y\n\n", [b""]),  # not a data line: only a sign of life
        (b"event: x\ndata: a\nid: 1\n\n", [b"a"]),
    ],
)
def test_blocks_that_start_with_the_type_but_are_not_the_usual_pair(block, data):
    assert SSEFramer().feed(block) == data


def test_the_first_event_of_a_stream_may_be_exactly_the_limit():
    body = b"data: " + b"x" * (LIMIT - 6)
    framer = SSEFramer()
    assert framer.feed(body) == []
    assert framer.feed(b"\n\n") == [body[6:]]
