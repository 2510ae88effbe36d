"""Where a delta goes (chat/turns/parts.py, item_list.field_index) and what a flush carries
(item_list.Changes, TurnState.take_changes, bounds.Warnings/Guard): NUL characters, the
slot an index names or implies, the bound on a new slot, single-string fields, chunks kept
without copying, the response's fields that re-send the status line, and text accounting."""

from chat.turns import bounds
from chat.turns.bounds import Guard, Warnings
from chat.turns.item_list import Changes
from chat.turns.state import TurnState
from tests.test_state import apply_all

MSG = {"item_id": "msg_1", "output_index": 0}


def with_message(*parts: str, kind: str = "output_text") -> TurnState:
    state = TurnState()
    content = [{"type": kind, "text": t, "refusal": t} for t in parts]
    item = {"id": "msg_1", "type": "message", "role": "assistant", "content": content}
    apply_all(state, {"type": "response.output_item.added", "output_index": 0, "item": item})
    state.take_changes()
    return state


def text_delta(delta: str, content_index: int | None = 0, kind: str = "output_text") -> dict:
    event = {"type": f"response.{kind}.delta", **MSG, "delta": delta}
    return event if content_index is None else {**event, "content_index": content_index}


def test_nul_characters_are_stripped_from_deltas_and_a_nul_only_delta_is_nothing():
    state = with_message("")
    apply_all(state, text_delta("a\x00b\x00"))
    assert state.items[0].parts[0].text == "ab"
    assert state.take_changes().appended == {(0, "text", 0): "ab"}
    state = TurnState()
    apply_all(state, text_delta("\x00\x00"))
    assert state.items == []  # not even the message a delta implies


def test_a_delta_without_an_index_goes_to_the_last_part_not_a_new_one():
    state = with_message("a", "b")
    apply_all(state, text_delta("c", content_index=None))
    assert [p.text for p in state.items[0].parts] == ["a", "bc"]


def test_a_refusal_delta_goes_to_the_part_its_index_names():
    state = with_message("no", "not", kind="refusal")
    apply_all(state, text_delta("!", content_index=1, kind="refusal"))
    assert [p.text for p in state.items[0].parts] == ["no", "not!"]


def test_a_new_part_one_past_the_last_is_still_bounded_by_the_part_limit():
    state = with_message(*["x"] * bounds.MAX_PARTS)
    apply_all(state, text_delta("y", content_index=bounds.MAX_PARTS))
    assert len(state.items[0].parts) == bounds.MAX_PARTS
    assert state.warnings == [
        f"Skipped an event from the model server with an out-of-range index {bounds.MAX_PARTS}."
    ]


def test_a_single_string_field_ignores_the_index_a_delta_carries():
    state = TurnState()
    call = {"id": "fc_1", "type": "function_call", "name": "f", "call_id": "c"}
    apply_all(state, {"type": "response.output_item.added", "output_index": 0, "item": call})
    state.take_changes()
    where = {"item_id": "fc_1", "output_index": 0}
    for index in (None, 3, 100):
        apply_all(state, {"type": "response.function_call_arguments.delta", **where, "content_index": index, "delta": "{"})  # fmt: skip
    assert state.items[0].arguments == "{{{"
    assert state.take_changes().appended == {(0, "arguments", 0): "{{{"}
    assert state.warnings == []


def test_a_streamed_delta_is_kept_as_a_chunk_on_its_part_not_copied_into_the_text():
    """Copying the text so far on every delta is quadratic: seconds for a long answer."""
    state = with_message("start")
    apply_all(state, text_delta("a"), text_delta("b"))
    assert state.items[0].parts[0]._pending == ["a", "b"]
    assert state.items[0].parts[0].text == "startab"


def test_text_appended_to_an_item_re_rendered_whole_is_not_sent_twice():
    state = with_message("")
    apply_all(state, text_delta("draft"))
    apply_all(state, {"type": "response.output_text.done", **MSG, "content_index": 0, "text": "final"})  # fmt: skip
    changes = state.take_changes()
    assert changes.items == {0} and changes.appended == {}


def test_a_status_or_a_warning_alone_is_a_change_to_flush():
    assert Changes(status=True) and Changes(warnings=True) and not Changes()


def test_a_repeated_warning_of_our_own_kind_is_counted_as_like_it():
    notes = Warnings()
    notes.add("stopped", "Stopped.")
    notes.add("stopped", "Stopped.")
    assert notes.lines() == ["Stopped. (and 1 more like it)"]


def test_background_once_reported_stays_and_a_new_model_re_sends_the_status_line():
    state = TurnState()
    created = {"type": "response.created", "response": {"id": "r1", "background": True}}
    apply_all(state, created)
    state.take_changes()
    apply_all(state, {"type": "response.in_progress", "response": {"id": "r1", "model": "m2"}})
    assert state.background is True and state.model == "m2"
    assert state.take_changes().status is True


def test_taking_text_exactly_up_to_the_limit_warns_nothing_and_counts_it():
    guard = Guard()
    guard.limit = 10
    assert guard.take(0, "x" * 10) == "x" * 10
    assert guard.notes.lines() == [] and guard.chars == 10
    assert guard.take(4, "yy") == "yy"  # replaces 4 characters with 2
    assert guard.chars == 8
    assert guard.take(0, "z" * 5) == "zz"
    assert guard.notes.lines() == [
        "Left out part of text past 10 characters: it was too large to keep."
    ]
