"""TurnState against a hostile upstream: indices, counts and sizes are bounded (issue 13).

An out-of-bounds event is dropped with one warning (counted), never padded; warnings stay a
few short lines whatever the number of bad events; events that change nothing are no frame.
"""

import orjson
import pytest

from chat.turns import bounds
from chat.turns.state import TurnState
from chat.upstream.events import parse_event

MID = {"item_id": "m1", "output_index": 0}


def apply_all(state: TurnState, *events: dict | bytes) -> list[bool]:
    return [
        state.apply(parse_event(e if isinstance(e, bytes) else orjson.dumps(e))) for e in events
    ]


def message_state() -> TurnState:
    state = TurnState()
    apply_all(
        state,
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m1"}},
        {"type": "response.output_text.delta", **MID, "content_index": 0, "delta": "Hello"},
    )  # fmt: skip
    state.take_changes()
    return state


def delta(index: int, text: str = "x", **extra) -> dict:
    return {"type": "response.output_text.delta", **MID, "content_index": index, "delta": text, **extra}  # fmt: skip


def test_a_huge_content_index_is_dropped_not_padded():
    state = message_state()
    apply_all(state, delta(100_000, "boom"))
    assert len(state.items[0].parts) == 1
    assert state.text == "Hello"
    assert len(state.warnings) == 1 and "out-of-range index 100000" in state.warnings[0]


@pytest.mark.parametrize("field", ["content_index", "summary_index", "output_index"])
def test_a_negative_index_never_raises_and_keeps_the_text(field):
    state = message_state()
    kind = "response.reasoning_summary_text.delta" if field == "summary_index" else None
    event = {**delta(0, " world"), field: -5}
    if kind:
        event["type"] = kind
    apply_all(state, event)
    assert state.text == "Hello"
    assert len(state.warnings) == 1


def test_a_small_gap_is_allowed_a_large_one_is_not():
    state = message_state()
    apply_all(state, delta(1 + bounds.MAX_INDEX_GAP, "ok"), delta(100, "no"))
    assert len(state.items[0].parts) == 2 + bounds.MAX_INDEX_GAP
    assert state.items[0].parts[-1].text == "ok"
    assert "no" not in state.text


def test_content_part_and_annotation_indices_are_bounded_too():
    state = message_state()
    apply_all(
        state,
        {"type": "response.content_part.added", **MID, "content_index": 10**9, "part": {"type": "output_text"}},
        {"type": "response.output_text.annotation.added", **MID, "content_index": -1,
         "annotation": {"type": "url_citation", "url": "https://example.com"}},
        {"type": "response.reasoning_summary_part.added", "item_id": "r", "output_index": 1,
         "summary_index": 10**6, "part": {"type": "summary_text", "text": ""}},
    )  # fmt: skip
    assert len(state.items[0].parts) == 1
    assert all(len(item.summary) <= 1 for item in state.items)
    assert len(state.warnings) == 1 and "(and 2 more" in state.warnings[0]


def test_an_output_index_far_past_the_items_is_dropped():
    state = message_state()
    apply_all(
        state,
        {"type": "response.output_item.added", "output_index": 100_000, "item": {"type": "message", "id": "far"}},
        {"type": "response.output_text.delta", "output_index": 99_999, "delta": "far"},
    )  # fmt: skip
    assert len(state.items) == 1 and state.text == "Hello"


def test_items_per_response_are_capped():
    state = TurnState()
    added = [
        {"type": "response.output_item.added", "output_index": i, "item": {"type": "function_call"}}
        for i in range(bounds.MAX_ITEMS + 50)
    ]
    apply_all(state, *added)
    assert len(state.items) == bounds.MAX_ITEMS
    assert len(state.guard.notes) == 50  # each dropped event counted once
    assert len(state.warnings) == 2  # past the count, and then past the index gap
    assert "more than 256 output items" in state.warnings[0]


def test_parts_per_item_are_capped_when_added_without_indices():
    state = TurnState()
    part = {"type": "response.content_part.added", "item_id": "m", "part": {"type": "output_text"}}
    apply_all(state, *[part] * (bounds.MAX_PARTS + 10))
    assert len(state.items[0].parts) == bounds.MAX_PARTS
    assert len(state.warnings) == 1


def test_text_past_the_limit_is_cut_once_with_one_warning(monkeypatch):
    monkeypatch.setattr(bounds, "MAX_CHARS", 1000)
    state = message_state()
    apply_all(state, *[delta(0, "y" * 300)] * 10)
    assert len(state.text) == 1000
    assert state.guard.chars == 1000
    assert len(state.warnings) == 1 and "too large" in state.warnings[0]


def test_a_done_value_or_terminal_output_past_the_limit_is_cut(monkeypatch):
    monkeypatch.setattr(bounds, "MAX_CHARS", 1000)
    state = message_state()
    big = "z" * 5000
    apply_all(state, {"type": "response.output_text.done", **MID, "content_index": 0, "text": big})
    assert len(state.text) == 1000
    output = [{"type": "message", "id": "m1", "content": [{"type": "output_text", "text": big}]}]
    output += [{"type": "function_call", "id": "f", "arguments": big}]
    apply_all(state, {"type": "response.completed", "response": {"status": "completed", "output": output}})  # fmt: skip
    assert state.status == "completed"
    assert sum(item.size() for item in state.items) == state.guard.chars == 1000
    assert len(state.text) == 1000 and state.items[1].arguments == ""


def test_large_annotations_and_raw_fields_are_not_kept():
    state = message_state()
    huge = "u" * (bounds.MAX_JSON_BYTES + 1)
    # Each string is cut to 64k (bounds.bounded); together they are still too large.
    blobs = {f"blob{n}": "b" * 60_000 for n in range(bounds.MAX_RAW_BYTES // 60_000 + 1)}
    apply_all(
        state,
        {"type": "response.output_text.annotation.added", **MID, "content_index": 0,
         "annotation": {"type": "url_citation", "url": huge}},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {"type": "hologram_call", "id": "h", "beam": 3, **blobs}},
    )  # fmt: skip
    assert state.items[0].parts[0].annotations == []
    assert state.items[1].raw == {"type": "hologram_call", "id": "h", "beam": 3}
    assert len(state.warnings) == 1 and "(and 1 more" in state.warnings[0]


def test_ids_and_names_are_short():
    state = TurnState()
    long = "n" * 10_000
    apply_all(
        state,
        {"type": "response.created", "response": {"id": long, "model": long}},
        {"type": "response.output_item.added", "item": {"type": "function_call", "id": long, "name": long}},
        {"type": "error", "code": long, "message": long},
    )  # fmt: skip
    assert len(state.model) == len(state.response_id) == bounds.MAX_ID_CHARS
    assert len(state.items[0].id) == len(state.items[0].name) == bounds.MAX_ID_CHARS
    assert len(state.error_code) <= bounds.MAX_ID_CHARS
    assert len(state.error_message) <= bounds.MAX_MESSAGE_CHARS


def test_thousands_of_malformed_events_are_one_counted_warning_and_no_flush():
    state = message_state()
    structural = apply_all(state, *[b"{not json"] * 2000)
    assert not any(structural)  # a warning is not a reason to flush at once
    assert state.warnings == [
        "Skipped a malformed event: {not json (and 1,999 more malformed events)"
    ]
    changes = state.take_changes()
    assert changes.warnings and not changes.items and not changes.status
    assert not state.take_changes()


def test_warnings_of_many_kinds_stay_a_few_lines():
    state = message_state()
    apply_all(state, b"[1]", delta(-1), delta(10**6))
    for n in range(5):
        state.guard.warn(f"kind{n}", "x")  # unknown kinds are tolerated by Warnings
    lines = state.warnings
    assert len(lines) == bounds.MAX_WARNING_KINDS + 1
    assert lines[-1] == "… and 2 more warnings."  # 2 kinds + 3 listed, 2 summed up


def test_events_that_change_nothing_are_no_frame():
    state = message_state()
    created = {"type": "response.in_progress", "response": {"id": "r1", "model": "m"}}
    apply_all(state, created)
    state.take_changes()
    item = {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "m1"}}  # fmt: skip
    structural = apply_all(state, *[created] * 1000, *[item] * 1000)
    assert not any(structural)
    assert not state.take_changes()


def test_out_of_range_sequence_numbers_read_as_absent():
    state = message_state()
    apply_all(state, delta(0, "!", sequence_number=2**40), delta(0, "?", sequence_number=-3))
    assert state.text == "Hello!?"
    assert state.last_seq is None


def test_a_part_takes_deltas_without_copying_and_reads_as_a_plain_field():
    from dataclasses import asdict

    from chat.turns.items import Part

    part = Part(text="ab")
    for delta in "cdef":
        part.add(delta)
    assert len(part._pending) == 4  # kept as chunks until read: no copy per delta
    assert part.text == "abcdef" and not part._pending  # joined once, on reading
    assert asdict(part) == {"kind": "output_text", "text": "abcdef", "annotations": []}
    part.add("g")
    assert part == Part(text="abcdefg") and Part(**asdict(part)) == part
    part.text = "new"
    assert part.text == "new"
