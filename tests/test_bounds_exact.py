"""The exact edges of the accumulator's bounds (chat/turns/bounds.py): how deep, how many
and how long a kept JSON value may be, text exactly at the limit, the part limit, and the
warnings' words; and an implied item is rendered."""

from chat.turns import bounds
from chat.turns.bounds import Guard, bounded
from chat.turns.items import Item
from chat.turns.state import TurnState
from tests.test_state import apply_all


def nested_lists(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def nested_dicts(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"k": value}
    return value


def test_a_kept_value_holds_six_levels_of_nesting_and_no_more():
    for nest in (nested_lists, nested_dicts):
        assert bounded(nest(6)) == nest(6), nest.__name__
        cut = bounded(nest(7))
        for _ in range(6):
            cut = cut[0] if isinstance(cut, list) else cut["k"]
        assert cut in ([None], {"k": None}), nest.__name__


def test_a_kept_value_holds_a_hundred_entries_and_hundred_character_keys():
    assert len(bounded(list(range(101)))) == 100
    kept = bounded({f"{i:03}": i for i in range(101)})
    assert list(kept) == [f"{i:03}" for i in range(100)]
    assert list(bounded({"k" * 101: 1})) == ["k" * 100]


def test_an_item_exactly_at_the_text_limit_is_kept_whole_without_a_warning():
    guard = Guard()
    guard.limit = 10
    item = Item(type="function_call", arguments="x" * 10)
    guard.grew(item, 0)
    assert item.arguments == "x" * 10 and guard.chars == 10
    assert guard.notes.lines() == []
    item.arguments = "y" * 11
    guard.grew(item, 10)
    assert item.arguments == "y" * 10 and guard.chars == 10
    assert guard.notes.lines() == [
        "Left out part of text past 10 characters: it was too large to keep."
    ]


def test_parts_past_the_limit_without_indices_are_one_worded_warning():
    state = TurnState()
    part = {"type": "response.content_part.added", "item_id": "m", "part": {"type": "output_text"}}
    apply_all(state, *[part] * (bounds.MAX_PARTS + 2))
    assert state.warnings == [
        f"Skipped an event from the model server: more than {bounds.MAX_PARTS} parts in an item."
        " (and 1 more events past the limit on items or parts)"
    ]


def test_a_part_index_at_the_limit_is_dropped_even_within_the_gap():
    state = TurnState()
    content = [{"type": "output_text", "text": "x"}] * (bounds.MAX_PARTS - 2)
    item = {"id": "m", "type": "message", "content": content}
    apply_all(state, {"type": "response.output_item.added", "output_index": 0, "item": item})
    added = {"type": "response.content_part.added", "item_id": "m", "output_index": 0}
    apply_all(state, {**added, "content_index": bounds.MAX_PARTS, "part": {"type": "output_text"}})
    assert len(state.items[0].parts) == bounds.MAX_PARTS - 2
    assert len(state.warnings) == 1


def test_an_item_a_delta_implies_is_rendered_whole():
    state = TurnState()
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    apply_all(state, {"type": "response.output_text.delta", **where, "delta": "hi"})
    changes = state.take_changes()
    assert changes.items == {0} and changes.appended == {}
    assert state.items[0].parts[0].text == "hi"
