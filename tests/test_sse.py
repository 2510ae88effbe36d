"""SSE framing on bytes and the event fast path, against plain reference rules and every recording."""

import random
import re

import orjson
import pytest

from chat.upstream import events
from chat.upstream.events import StreamEvent, parse_event
from chat.upstream.sse import SSEFramer
from tests.fake_upstream import FIXTURES_DIR
from tests.fixtures import JSONL, RAW_SSE, data_lines, fixture_path


def reference(body: bytes) -> list[bytes]:
    """The WHATWG field rules on the whole body at once, plus our leniency at EOF."""
    out: list[bytes] = []
    data: list[bytes] = []
    has_field = False
    for line in [*re.split(rb"\r\n|\r|\n", body), b""]:  # the last event counts at EOF
        if not line:
            if data or has_field:
                out.append(b"\n".join(data))
            data, has_field = [], False
        elif not line.startswith(b":"):
            name, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if name == b"data":
                data.append(value)
            has_field = has_field or name in (b"event", b"id", b"retry")
    return out


def frame(chunks: list[bytes]) -> list[bytes]:
    framer = SSEFramer()
    out = [data for chunk in chunks for data in framer.feed(chunk)]
    return out + framer.close()


def chunked(body: bytes, how: str) -> list[bytes]:
    if how == "whole":
        return [body]
    if how == "bytes":
        return [body[i : i + 1] for i in range(len(body))]
    rng = random.Random(len(body))
    cuts = sorted(rng.sample(range(1, len(body)), min(40, len(body) - 1)))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


def bodies() -> dict[str, bytes]:
    out = {name: (FIXTURES_DIR / "raw_sse" / name).read_bytes() for name in RAW_SSE}
    for name in JSONL:
        lines = data_lines(fixture_path(name))
        out[name] = b"".join(b"event: x\ndata: " + line + b"\n\n" for line in lines)
    return out


BODIES = bodies()
ENDINGS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}


@pytest.mark.parametrize("how", ["whole", "bytes", "random"])
@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("name", BODIES)
def test_every_recording_frames_as_the_reference(name, ending, how):
    body = BODIES[name].replace(b"\r\n", b"\n").replace(b"\n", ENDINGS[ending])
    expected = reference(body)
    assert expected  # the recording is not empty
    assert frame(chunked(body, how)) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b": keep-alive\n\ndata: {}\n\n", [b"{}"]),
        (b'data: {"a":\ndata: 1}\n\n', [b'{"a":\n1}']),
        (b"data:x\n\n", [b"x"]),
        (b"data:  x\n\n", [b" x"]),
        (b"data\n\n", [b""]),
        (b"event: a\nid: 1\nretry: 5\ndata: x\n\n", [b"x"]),
        (b"id: 7\r\nevent: a\r\ndata: x\r\n: note\r\n\r\n", [b"x"]),
        (b"event: ping\n\n", [b""]),
        (b": only a comment\n\n", []),
        (b"data: a\n\ndata: b\n", [b"a", b"b"]),  # the last event without its blank line
        (b"data: a\n\ndata: b", [b"a", b"b"]),
        (b"data: a\r\rdata: b\r\r", [b"a", b"b"]),
        (b"\n\n\ndata: a\n\n\n\n\ndata: b\n\n\n", [b"a", b"b"]),
        (b"nonsense: 1\ndata: a\n\n", [b"a"]),
    ],
)
def test_field_rules(body, expected):
    assert reference(body) == expected
    for how in ("whole", "bytes", "random"):
        assert frame(chunked(body, how)) == expected


def test_crlf_split_across_chunks_is_one_line_end():
    assert frame([b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]) == [b"a", b"b"]


def test_an_event_is_dispatched_when_its_blank_line_arrives():
    framer = SSEFramer()
    assert framer.feed(b"event: x\ndata: {") == []
    assert framer.feed(b"}\n") == []
    assert framer.feed(b"\ndata: 2\n\ndata: 3") == [b"{}", b"2"]
    assert framer.close() == [b"3"]


def test_utf8_split_across_chunks():
    text = "é€😀 naïve"
    body = b"data: " + orjson.dumps({"type": "response.output_text.delta", "delta": text}) + b"\n\n"
    (data,) = frame(chunked(body, "bytes"))
    assert parse_event(data).delta == text


def test_invalid_utf8_reads_with_replacement_characters():
    event = parse_event(b'{"type":"response.output_text.delta","delta":"a\xffb"}')
    assert event.delta == "a\ufffdb"


# --- the event fast path ---


def validated(data: bytes) -> StreamEvent:
    """What parse_event built before the fast path: always model_validate."""
    payload = orjson.loads(data)
    if "type" not in payload and "error" in payload:
        payload["type"] = "error"
    if not isinstance(payload.get("type"), str):
        payload["type"] = "unknown"
    return StreamEvent.model_validate(payload)


def assert_same(fast: StreamEvent, slow: StreamEvent) -> None:
    assert type(fast) is type(slow)
    assert fast.model_dump() == slow.model_dump()
    assert list(fast.__dict__) == list(slow.__dict__)  # field order, e.g. for model_dump_json
    assert fast.model_extra == slow.model_extra
    assert list(fast.model_extra or {}) == list(slow.model_extra or {})
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast == slow
    assert (fast.is_terminal, fast.error_info()) == (slow.is_terminal, slow.error_info())


ALL_DATA = [
    pytest.param(line, id=f"{path.name}:{i}")
    for path in [fixture_path(n) for n in [*JSONL, *RAW_SSE]]
    for i, line in enumerate(data_lines(path))
]


@pytest.mark.parametrize("data", ALL_DATA)
def test_every_recorded_event_parses_as_model_validate_does(data):
    assert_same(parse_event(data), validated(data))


def test_recorded_deltas_take_the_fast_path():
    deltas = [
        orjson.loads(d.values[0]) for d in ALL_DATA if b'.delta"' in d.values[0].split(b",")[0]
    ]
    assert len(deltas) > 100
    assert all(events._construct(payload) is not None for payload in deltas)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "response.output_text.delta", "sequence_number": 3, "delta": "x"},
        {"type": "response.output_text.delta", "delta": {"odd": [1]}, "obfuscation": "abc"},
        {"type": "response.output_text.delta", "sequence_number": "3", "delta": "x"},
        {"type": "response.output_text.delta", "sequence_number": True, "delta": "x"},
        {"type": "response.output_text.delta", "output_index": 1.0, "content_index": 1.5},
        {"type": "response.output_text.delta", "item_id": 5, "summary_index": None},
        {"type": "response.output_text.delta", "item_id": None, "delta": None},
        {"type": "response.refusal.done", "refusal": "no", "text": ["not", "a", "str"]},
        {"type": "response.in_progress", "response": None, "item": None},
        {"type": "response.in_progress", "response": {"id": "r", "usage": "bad"}},
        {"type": "error", "code": 500, "message": "full"},
        {"type": "error", "code": "quota", "message": 3, "param": "p"},
        {"error": {"code": 500, "message": "context full"}},
        {"type": None, "delta": "x"},
        {"delta": "x", "model_config": 1, "__dict__": 2, "_private": 3},
        {"type": "response.output_text.annotation.added", "annotation": {"url": "u"}},
    ],
)
def test_lenient_shapes_parse_as_model_validate_does(payload):
    data = orjson.dumps(payload)
    assert_same(parse_event(data), validated(data))


def test_malformed_and_non_object_data():
    for data in (b"{not json", b"[1, 2]", b'"text"'):
        event = parse_event(data)
        assert event.type == events.MALFORMED
        assert event.message == data.decode()
