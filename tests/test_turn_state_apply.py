"""TurnState.apply's own rules (chat/turns/state.py): what a new turn holds, sequence
numbers at their edges, the event counts, the output_index bound within a round, what is
flushed at once, an unaddressed event's item, and the statuses set from our side."""

import orjson
import pytest

from chat.turns import bounds
from chat.turns.state import MAX_SEQ, TurnState
from chat.upstream.events import parse_event
from tests.test_state import apply_all


def event(**fields) -> object:
    return parse_event(orjson.dumps(fields))


def added(index: int, mid: str) -> dict:
    item = {"id": mid, "type": "message", "role": "assistant", "content": []}
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def test_a_new_turn_holds_nothing_reported_yet():
    state = TurnState()
    assert (state.response_id, state.model, state.raw_usage) == (None, None, None)
    assert (state.error_message, state.incomplete_reason) == (None, None)
    assert state.background is False and state.events == 0 and state.round_events == 0
    assert state.take_changes().warnings is False


@pytest.mark.parametrize("seq", [0, MAX_SEQ])
def test_a_sequence_number_at_either_edge_counts_and_its_repeat_is_dropped(seq):
    state = TurnState()
    apply_all(state, added(0, "m"))
    delta = event(type="response.output_text.delta", output_index=0, content_index=0,
                  delta="a", sequence_number=seq)  # fmt: skip
    state.apply(delta)
    assert state.apply(delta) is False
    assert state.items[0].parts[0].text == "a" and state.last_seq == seq


def test_every_applied_event_is_counted_in_the_turn_and_its_round():
    state = TurnState()
    apply_all(
        state, added(0, "m"), {"type": "response.in_progress"}, {"type": "response.in_progress"}
    )
    assert state.events == 3 and state.round_events == 3
    assert state.round_record()["events"] == 3


def test_an_output_index_may_skip_the_gap_and_no_further_within_the_round():
    state = TurnState()
    apply_all(state, added(bounds.MAX_INDEX_GAP, "m_gap"))
    assert [i.id for i in state.items] == ["m_gap"]
    state.begin_round()  # the next round's indices count from its own first item
    apply_all(state, added(bounds.MAX_INDEX_GAP + 1, "m_far"))
    assert [i.id for i in state.items] == ["m_gap"]
    assert state.warnings == [
        "Skipped an event from the model server with an out-of-range output_index "
        f"{bounds.MAX_INDEX_GAP + 1}."
    ]


def test_a_new_item_or_a_new_status_is_flushed_at_once_and_nothing_else():
    state = TurnState()
    assert state.apply(event(type="response.created")) is True  # the first event
    assert state.apply(event(**added(0, "m"))) is True
    assert state.apply(event(type="response.in_progress")) is False
    assert state.apply(event(type="response.completed", response={"status": "completed"})) is True


def test_an_event_without_any_address_goes_to_the_rounds_last_item():
    state = TurnState()
    apply_all(state, added(0, "m1"), added(1, "m2"))
    apply_all(state, {"type": "response.output_text.delta", "delta": "x"})
    assert [p.text for p in state.items[1].parts] == ["x"]
    assert state.items[0].parts == []


def test_items_past_the_limit_are_one_worded_warning():
    state = TurnState()
    apply_all(state, {"type": "response.completed", "response": {"status": "completed"}})
    for _ in range(bounds.MAX_ITEMS + 1):
        state.begin_round()  # a fresh round each time, so the output_index bound holds
        apply_all(state, added(0, "m"))
    assert len(state.items) == bounds.MAX_ITEMS
    assert state.warnings == [
        f"Skipped an event from the model server: more than {bounds.MAX_ITEMS} output items."
    ]


def test_cancel_and_interrupt_set_their_statuses():
    state = TurnState()
    state.cancel()
    assert state.status == "cancelled"
    state.interrupt()
    assert state.status == "interrupted"
