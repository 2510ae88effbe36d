"""`.done` values and `content_part` events (chat/turns/parts.py): a final value replaces the
deltas at its own slot, without NUL characters, and re-renders only when it changed; a part
event makes its message when none was seen, takes its kind (a refusal's text from
`refusal`), and reasoning text from a `reasoning_text` part."""

from chat.turns.state import TurnState
from tests.test_state import apply_all

MSG = {"item_id": "msg_1", "output_index": 0}


def with_message(*parts: str) -> TurnState:
    state = TurnState()
    content = [{"type": "output_text", "text": t, "annotations": []} for t in parts]
    item = {"id": "msg_1", "type": "message", "role": "assistant", "content": content}
    apply_all(state, {"type": "response.output_item.added", "output_index": 0, "item": item})
    state.take_changes()
    return state


def text_done(text: str, content_index: int = 0, **where) -> dict:
    where = where or MSG
    return {
        "type": "response.output_text.done",
        **where,
        "content_index": content_index,
        "text": text,
    }


def part_event(step: str, part: dict, content_index: int = 0, **where) -> dict:
    where = where or MSG
    return {
        "type": f"response.content_part.{step}",
        **where,
        "content_index": content_index,
        "part": part,
    }


def test_a_done_value_goes_to_its_own_part_without_nul_characters():
    state = with_message("one", "two")
    apply_all(state, text_done("t\x00wo!", content_index=1))
    assert [p.text for p in state.items[0].parts] == ["one", "two!"]


def test_a_done_value_re_renders_its_item_only_when_it_changed():
    state = with_message("same")
    apply_all(state, text_done("same"))
    assert state.take_changes().items == set()
    apply_all(state, text_done("other"))
    assert state.take_changes().items == {0}


def test_a_done_value_or_a_part_before_its_item_makes_a_message():
    for event in (
        text_done("hi", item_id="msg_9", output_index=0),
        part_event("added", {"type": "output_text", "text": ""}, item_id="msg_9", output_index=0),
    ):
        state = TurnState()
        apply_all(state, event)
        assert [(i.type, i.id) for i in state.items] == [("message", "msg_9")], event["type"]


def test_a_part_without_a_type_is_answer_text():
    state = with_message()
    apply_all(state, part_event("added", {}))
    assert [p.kind for p in state.items[0].parts] == ["output_text"]


def test_a_part_done_sets_its_final_text_and_kind():
    state = with_message()
    apply_all(state, part_event("added", {"type": "output_text", "text": ""}))
    state.take_changes()
    apply_all(state, part_event("done", {"type": "output_text", "text": "final"}))
    assert [(p.kind, p.text) for p in state.items[0].parts] == [("output_text", "final")]
    assert state.take_changes().items == {0}


def test_a_refusal_part_takes_its_text_from_refusal_and_changes_the_kind():
    state = with_message("streamed")
    refusal = {"type": "refusal", "refusal": "I can't help with that.", "text": "not this"}
    apply_all(state, part_event("done", refusal))
    assert [(p.kind, p.text) for p in state.items[0].parts] == [
        ("refusal", "I can't help with that.")
    ]
    assert state.take_changes().items == {0}


def test_a_part_done_with_the_same_text_and_a_new_kind_re_renders_its_item():
    state = with_message("no")
    apply_all(state, part_event("done", {"type": "refusal", "refusal": "no"}))
    assert state.items[0].parts[0].kind == "refusal"
    assert state.take_changes().items == {0}


def test_a_part_done_without_text_keeps_the_streamed_text():
    state = with_message("streamed")
    apply_all(state, part_event("done", {"type": "output_text", "text": None}))
    assert state.items[0].parts[0].text == "streamed"
    assert state.take_changes().items == set()


def test_reasoning_text_parts_take_only_string_text():
    state = TurnState()
    item = {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"id": "rs_1", "type": "reasoning"},
    }
    where = {"item_id": "rs_1", "output_index": 0}
    apply_all(state, item, part_event("done", {"type": "reasoning_text", "text": 5}, **where))
    assert state.items[0].reasoning == [""]
    apply_all(state, part_event("done", {"type": "reasoning_text", "text": "why"}, **where))
    assert state.items[0].reasoning == ["why"]
