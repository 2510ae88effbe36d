"""Edges of the stream's framing and event models that the recordings never show (issue 13's
mutation pass over chat.upstream.sse and events): blocks without data, text instead of bytes,
error frames in every shape, and usage details of the wrong type."""

import pytest

from chat.upstream.events import MALFORMED, StreamEvent, Usage, parse_event
from chat.upstream.sse import SSEFramer


def framed(body: bytes) -> list[bytes]:
    framer = SSEFramer()
    return framer.feed(body) + framer.close()


@pytest.mark.parametrize(
    "block", [b"id: 5\n\n", b"retry: 100\n\n", b"id\n\n", b"event: x\nid: 1\n\n"]
)
def test_a_block_of_only_id_or_retry_is_a_sign_of_life(block):
    # An empty data still reaches the reader: it resets the idle watchdog.
    assert framed(block) == [b""]
    assert framed(b": c\n" + block) == [b""]  # not the fast path


@pytest.mark.parametrize("block", [b"nonsense: 1\n\n", b"idx: 1\n\n", b": c\n\n"])
def test_a_block_of_unknown_fields_or_comments_is_nothing(block):
    assert framed(block) == []


def test_a_data_line_before_other_fields_keeps_its_value():
    assert framed(b"data: a\nid: 1\n\n") == [b"a"]
    assert framed(b"id: 1\ndata: b\nretry: 3\n\n") == [b"b"]


def test_text_parses_like_bytes():
    event = parse_event('{"type": "response.output_text.delta", "delta": "é"}')
    assert (event.type, event.delta) == ("response.output_text.delta", "é")
    assert parse_event('["x"]').type == MALFORMED


def test_a_typed_event_with_a_top_level_error_keeps_its_type():
    event = parse_event(b'{"type": "response.failed", "error": {"code": "server_error"}}')
    assert event.type == "response.failed"
    assert event.error_info().code == "server_error"
    own = parse_event(b'{"type": "error", "error": {"message": "m"}, "code": "c"}')
    assert own.type == "error"
    assert (own.error_info().code, own.error_info().message) == ("c", "m")


def test_an_untyped_error_frame_is_an_error_and_anything_else_unknown():
    assert parse_event(b'{"error": {"code": 500}}').type == "error"
    assert parse_event(b'{"delta": "x"}').type == "unknown"
    assert parse_event(b'{"type": 7, "error": "x"}').type == "unknown"


def test_error_info_falls_back_field_by_field():
    bare = StreamEvent(type="error").error_info()
    assert (bare.code, bare.message, bare.type, bare.param) == (
        None,
        "The upstream reported an error.",
        None,
        None,
    )
    flat = parse_event(b'{"type": "error", "code": "c1", "message": "m1", "param": "p1"}')
    info = flat.error_info()
    assert (info.code, info.message, info.param) == ("c1", "m1", "p1")
    nested = parse_event(
        b'{"type": "error", "code": "flat", "message": "flat", "param": "flat",'
        b' "error": {"code": "n", "message": "nm", "type": "t", "param": "np"}}'
    ).error_info()
    assert (nested.code, nested.message, nested.type, nested.param) == ("n", "nm", "t", "np")
    typed = parse_event(b'{"type": "error", "error": {"type": "invalid_request"}}').error_info()
    assert (typed.code, typed.type) == ("invalid_request", "invalid_request")


def test_a_usage_detail_is_a_whole_number_or_nothing():
    usage = Usage(
        input_tokens_details={"cached_tokens": 5, "odd": "7"},
        output_tokens_details={"reasoning_tokens": 3, "frac": 1.5},
    )
    assert usage.detail("input", "cached_tokens") == 5
    assert usage.detail("output", "reasoning_tokens") == 3
    assert usage.detail("input", "reasoning_tokens") is None  # each group its own
    assert usage.detail("output", "cached_tokens") is None
    assert usage.detail("input", "odd") is None
    assert usage.detail("output", "frac") is None
    assert Usage().detail("input", "cached_tokens") is None
