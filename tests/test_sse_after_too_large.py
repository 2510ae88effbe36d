"""After a too-large event is dropped, the framer finds its blank line wherever the chunks
split it (one chunk ending in "\\n", the next starting with it; CRLF endings; the blank line
alone at the start of a chunk) and reads the next events whole; the limit starts afresh."""

import pytest

from chat.upstream import sse
from chat.upstream.sse import SSEFramer

GOOD = b'data: {"type":"response.output_text.delta","delta":"ok"}\n\n'
HUGE = b"data: " + b"x" * 1500  # past the limit below, its blank line not yet sent


@pytest.fixture(autouse=True)
def small_limit(monkeypatch):
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 1000)


def feed_all(chunks: list[bytes]) -> list[bytes]:
    framer = SSEFramer()
    out: list[bytes] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out + framer.close()


def test_the_blank_line_at_the_start_of_the_next_chunk():
    assert feed_all([HUGE, b"\n\n" + GOOD]) == [sse.TOO_LARGE, GOOD[6:-2]]


def test_the_blank_line_split_across_the_too_large_chunk_and_the_next():
    assert feed_all([HUGE + b"\n", b"\n" + GOOD]) == [sse.TOO_LARGE, GOOD[6:-2]]


def test_the_blank_line_split_across_two_chunks_while_skipping():
    assert feed_all([HUGE, b"x" * 50 + b"\n", b"\n" + GOOD]) == [sse.TOO_LARGE, GOOD[6:-2]]


def test_a_lone_newline_while_skipping_is_not_a_blank_line():
    assert feed_all([HUGE, b"x\n", b"data: y\n", b"\n" + GOOD]) == [sse.TOO_LARGE, GOOD[6:-2]]


def test_crlf_endings_after_a_too_large_event():
    crlf = GOOD.replace(b"\n", b"\r\n")
    assert feed_all([HUGE, b"xx\r\n\r\n" + crlf]) == [sse.TOO_LARGE, GOOD[6:-2]]


def test_an_event_right_after_the_blank_line_may_be_exactly_the_limit():
    exact = b"data: " + b"z" * (1000 - 6)  # 1 000 bytes before its blank line
    out = feed_all([HUGE, b"\n\n", exact, b"\n\n"])
    assert out == [sse.TOO_LARGE, exact[6:]]
