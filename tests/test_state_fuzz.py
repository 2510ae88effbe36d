"""Fuzzing the accumulator with hypothesis: random event sequences with hostile indices and
values never raise, keep memory within the bounds, and leave a state that renders."""

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.turns import bounds
from chat.turns.frames import delta_frame, live_message_frame
from chat.turns.snapshot import snapshot_of
from chat.turns.state import TurnState
from chat.upstream.events import parse_event

TYPES = [
    "response.created", "response.in_progress", "response.completed", "response.failed",
    "response.incomplete", "response.output_item.added", "response.output_item.done",
    "response.content_part.added", "response.content_part.done",
    "response.output_text.delta", "response.output_text.done", "response.refusal.delta",
    "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done", "response.reasoning_text.delta",
    "response.function_call_arguments.delta", "response.function_call_arguments.done",
    "response.output_text.annotation.added", "response.web_search_call.searching",
    "error", "response.some_future_event",
]  # fmt: skip
ITEM_TYPES = ["message", "reasoning", "function_call", "web_search_call", "mystery", 7, None]

# Indices as a hostile server sends them: small, negative, huge, of the wrong type.
index = st.one_of(
    st.none(),
    st.integers(-3, 8),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([1.5, "0", True]),
)
text = st.one_of(st.text(max_size=20), st.just("\x00"), st.integers(0, 3000).map("x".__mul__))
number = st.one_of(st.integers(-(2**40), 2**40), st.none(), st.just("12"))
usage = st.fixed_dictionaries(
    {}, optional={"input_tokens": number, "output_tokens": number, "total_tokens": number,
                  "output_tokens_details": st.fixed_dictionaries({"reasoning_tokens": number})},
)  # fmt: skip
item = st.fixed_dictionaries(
    {"type": st.sampled_from(ITEM_TYPES)},
    optional={
        "id": st.sampled_from(["a", "b", "long-id"]).map(lambda v: v * 100 if v == "long-id" else v),
        "arguments": text,
        "content": st.lists(
            st.fixed_dictionaries({"type": st.sampled_from(["output_text", "refusal", 3]), "text": text}),
            max_size=3,
        ),
        "summary": st.lists(st.fixed_dictionaries({"text": text}), max_size=3),
    },
)  # fmt: skip
response = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(1, 1000).map("r".__mul__),
        "model": st.integers(1, 1000).map("m".__mul__),
        "usage": st.one_of(usage, st.just("lots")),
        "output": st.lists(item, max_size=4),
        "error": st.fixed_dictionaries({"code": st.sampled_from(["x", 500]), "message": text}),
        "incomplete_details": st.fixed_dictionaries({"reason": text}),
    },
)
event = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={
        "sequence_number": index, "output_index": index, "content_index": index,
        "summary_index": index, "item_id": st.sampled_from(["a", "b", "zz"]),
        "delta": st.one_of(text, st.integers(-(2**63), 2**63 - 1)), "text": text, "arguments": text,
        "item": item, "part": st.fixed_dictionaries({"type": st.sampled_from(["output_text", "reasoning_text", "refusal"]), "text": text}),
        "annotation": st.fixed_dictionaries({"type": st.just("url_citation"), "url": text}),
        "response": response, "code": st.sampled_from(["e", 1]), "message": text,
    },
)  # fmt: skip
wire = st.one_of(
    event.map(orjson.dumps),
    st.sampled_from(
        [
            b"{not json",
            b"[]",
            b"\xff\xfe",
            b"",
            b'{"type":"error","code":1e400}',
            b'{"type":"response.output_text.delta","content_index":99999999999999999999999}',
        ]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(wire, max_size=40))
def test_random_hostile_streams_never_raise_and_stay_bounded(stream):
    state = TurnState()
    rendered = 0
    for data in stream:
        state.apply(parse_event(data))
        if len(state.items) > rendered or state.take_changes():
            changes = state.take_changes()
            delta_frame(1, state, changes, rendered)  # what the relay sends must render
            rendered = len(state.items)
    assert len(state.items) <= bounds.MAX_ITEMS
    for it in state.items:
        assert max(len(it.parts), len(it.summary), len(it.reasoning)) <= bounds.MAX_PARTS
        assert all(len(p.annotations) <= bounds.MAX_ANNOTATIONS for p in it.parts)
    assert state.guard.chars == sum(it.size() for it in state.items) <= bounds.MAX_CHARS
    assert len(state.warnings) <= bounds.MAX_WARNING_KINDS + 1
    assert all(len(w) <= 2 * bounds.MAX_WARNING_CHARS for w in state.warnings)
    assert state.last_seq is None or 0 <= state.last_seq < 2**31
    snapshot = snapshot_of(state)
    orjson.dumps(snapshot.items)  # storable as JSON
    assert live_message_frame(1, snapshot, "m").startswith("<")
