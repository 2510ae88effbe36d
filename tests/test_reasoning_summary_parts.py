"""Reasoning summary parts (`response.reasoning_summary_part.added/.done`): each part is one
slot, addressed by summary_index or else by arrival; `.added` opens a new slot, and its text
fills an empty slot; `.done`'s text is final and replaces what the deltas built; a part for an
item not seen yet makes a reasoning item."""

import itertools

import orjson

from chat.turns.state import TurnState
from chat.upstream.events import parse_event

REASONING = {"type": "reasoning", "id": "rs_1", "summary": []}


def stream(*events: dict) -> TurnState:
    state = TurnState()
    seq = itertools.count()
    first = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0, "item": REASONING},
    ]
    for event in [*first, *events]:
        state.apply(parse_event(orjson.dumps({**event, "sequence_number": next(seq)})))
    return state


def part(step: str, text: object = None, **where) -> dict:
    body = {"type": "summary_text"} if text is None else {"type": "summary_text", "text": text}
    where = {"item_id": "rs_1", "output_index": 0, **where}
    return {"type": f"response.reasoning_summary_part.{step}", **where, "part": body}


def delta(text: str, index: int) -> dict:
    return {
        "type": "response.reasoning_summary_text.delta",
        "item_id": "rs_1", "output_index": 0, "summary_index": index, "delta": text,
    }  # fmt: skip


def test_added_parts_open_one_slot_each_in_arrival_order():
    state = stream(part("added", "a"), part("added", "b"))
    assert state.items[0].summary == ["a", "b"]


def test_a_done_part_is_final_and_replaces_what_the_deltas_built():
    state = stream(
        part("added", summary_index=0), delta("draf", 0), part("done", "draft", summary_index=0)
    )
    assert state.items[0].summary == ["draft"]


def test_an_added_part_does_not_overwrite_text_already_there():
    state = stream(
        part("added", summary_index=0), delta("kept", 0), part("added", "other", summary_index=0)
    )
    assert state.items[0].summary == ["kept"]


def test_a_done_part_without_text_keeps_the_deltas():
    for text in (None, 42, ""):
        state = stream(
            part("added", summary_index=0), delta("kept", 0), part("done", text, summary_index=0)
        )
        assert state.items[0].summary == ["kept"], text


def test_a_done_part_without_an_index_is_the_last_slot():
    state = stream(part("added", "a"), part("added", "b"), part("done", "B"))
    assert state.items[0].summary == ["a", "B"]


def test_an_index_past_the_end_pads_with_empty_slots():
    state = stream(part("done", "third", summary_index=2))
    assert state.items[0].summary == ["", "", "third"]
    assert state.take_changes().items == {0}


def test_a_part_for_an_unseen_item_makes_a_reasoning_item():
    state = stream(part("added", "x", item_id="rs_2", output_index=1))
    assert [(i.type, i.id) for i in state.items] == [("reasoning", "rs_1"), ("reasoning", "rs_2")]
    assert state.items[1].summary == ["x"]


def test_reasoning_text_parts_are_addressed_by_content_index():
    state = stream(
        {"type": "response.content_part.done", "item_id": "rs_1", "output_index": 0,
         "content_index": 1, "summary_index": 0, "part": {"type": "reasoning_text", "text": "r"}},
    )  # fmt: skip
    assert state.items[0].reasoning == ["", "r"]
    assert state.items[0].summary == []
