"""Output items whole (chat/turns/output_items.py): the warning when an item is cut, the
limit on the terminal `output`, and what the terminal `output` keeps of the stream (text,
fields and images only the stream carried) and re-renders."""

import base64

from chat.turns import bounds
from chat.turns.state import TurnState
from tests.hosted_streams import PNG_B64
from tests.test_state import apply_all

CUT = "Left out part of an output item: it was too large to keep."
OTHER_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"another image").decode()


def added(index: int, item: dict) -> dict:
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def done(index: int, item: dict) -> dict:
    return {"type": "response.output_item.done", "output_index": index, "item": item}


def completed(output: list) -> dict:
    return {"type": "response.completed", "response": {"status": "completed", "output": output}}


def message(mid: str, text: str = "", **extra) -> dict:
    content = [{"type": "output_text", "text": text, "annotations": []}] if text else []
    return {"id": mid, "type": "message", "role": "assistant", "content": content, **extra}


def too_many_parts() -> list[dict]:
    return [{"type": "output_text", "text": "x"}] * (bounds.MAX_PARTS + 1)


def image_call(result: str | None = None) -> dict:
    item = {"id": "ig_1", "type": "image_generation_call", "status": "completed"}
    return {**item, "result": result} if result else item


def test_a_new_item_with_too_many_parts_is_cut_with_one_warning():
    state = TurnState()
    apply_all(state, added(0, {**message("m1"), "content": too_many_parts()}))
    assert len(state.items[0].parts) == bounds.MAX_PARTS
    assert state.warnings == [CUT]


def test_an_item_done_with_too_many_parts_is_cut_with_one_warning():
    state = TurnState()
    apply_all(
        state, added(0, message("m1")), done(0, {**message("m1"), "content": too_many_parts()})
    )
    assert len(state.items[0].parts) == bounds.MAX_PARTS
    assert state.warnings == [CUT]


def test_a_terminal_output_of_exactly_the_item_limit_is_kept_whole_without_a_warning():
    state = TurnState()
    apply_all(state, completed([message(f"m{i}", "a") for i in range(bounds.MAX_ITEMS)]))
    assert len(state.items) == bounds.MAX_ITEMS
    assert state.warnings == []


def test_a_terminal_output_past_the_item_limit_is_cut_with_its_count_in_the_warning():
    state = TurnState()
    apply_all(state, completed([message(f"m{i}", "a") for i in range(bounds.MAX_ITEMS + 1)]))
    assert len(state.items) == bounds.MAX_ITEMS
    assert state.warnings == [
        f"Skipped an event from the model server: {bounds.MAX_ITEMS + 1} output items."
    ]


def test_an_image_only_the_terminal_output_carries_is_taken():
    state = TurnState()
    apply_all(state, added(0, image_call()), completed([image_call(PNG_B64)]))
    assert state.images[0] == (base64.b64decode(PNG_B64), "image/png")


def test_the_terminal_outputs_image_replaces_the_one_streamed_for_the_same_position():
    state = TurnState()
    apply_all(state, added(0, image_call()), done(0, image_call(PNG_B64)))
    apply_all(state, completed([image_call(OTHER_PNG)]))
    assert state.images[0] == (base64.b64decode(OTHER_PNG), "image/png")


def test_a_streamed_image_survives_a_terminal_output_without_it():
    state = TurnState()
    apply_all(state, added(0, image_call()), done(0, image_call(PNG_B64)))
    apply_all(state, completed([image_call()]))
    assert state.images[0] == (base64.b64decode(PNG_B64), "image/png")


def reasoning(rid: str, summary: str | None = None) -> dict:
    item = {"id": rid, "type": "reasoning"}
    return {**item, "summary": [{"type": "summary_text", "text": summary}]} if summary else item


def test_streamed_summaries_survive_at_their_own_positions_past_a_changed_type():
    """The output names other ids and lacks the summaries; an item whose type changed takes
    nothing from the stream, and the ones after it still do."""
    state = TurnState()
    streamed = [
        message("m1", "first"),
        reasoning("rs_1", "S1"),
        message("m2", "b"),
        reasoning("rs_2", "S2"),
    ]
    apply_all(state, *[done(i, item) for i, item in enumerate(streamed)])
    final = [{"id": "fc_1", "type": "function_call", "name": "f", "call_id": "c", "arguments": "{}"},
             reasoning("rs_1f"), message("m2f", "b"), reasoning("rs_2f")]  # fmt: skip
    apply_all(state, completed(final))
    assert [i.type for i in state.items] == ["function_call", "reasoning", "message", "reasoning"]
    assert state.items[0].summary == []
    assert state.items[1].summary == ["S1"] and state.items[3].summary == ["S2"]


def test_the_terminal_outputs_own_summary_wins_over_the_streamed_one():
    state = TurnState()
    apply_all(
        state, done(0, reasoning("rs_1", "streamed")), completed([reasoning("rs_1", "final")])
    )
    assert state.items[0].summary == ["final"]


def test_a_terminal_output_shorter_than_the_stream_drops_the_rest_and_re_renders_it():
    state = TurnState()
    apply_all(state, done(0, message("m1", "one")), done(1, message("m2", "two")))
    state.take_changes()
    apply_all(state, completed([message("m1", "one")]))
    assert [i.id for i in state.items] == ["m1"]
    assert state.take_changes().items == {0, 1}  # position 1 is gone from the page too


def test_a_message_takes_its_fields_from_the_terminal_output_alone():
    """Tool items keep what only the stream sent (e.g. a shell call's commands); a message's
    fields (its phase) are the final word of the output."""
    state = TurnState()
    apply_all(state, done(0, message("m1", "one", phase="commentary")))
    apply_all(state, completed([message("m1", "one")]))
    assert "phase" not in state.items[0].raw
    state = TurnState()
    shell = {"id": "sh_1", "type": "shell_call", "action": {"commands": ["ls"]}}
    apply_all(
        state, done(0, shell), completed([{"id": "sh_1", "type": "shell_call", "action": {}}])
    )
    assert state.items[0].raw["action"] == {"commands": ["ls"]}
