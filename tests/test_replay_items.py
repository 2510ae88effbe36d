"""An answer's items as input again (chat/turns/replay.py), at the edges: a message's parts
joined as they were written (a part without text adds nothing), a message without text left
out, a call's missing name and arguments and an output's missing text as their empty forms,
and an output only with its own call (and a call only of type function_call)."""

from chat.turns.replay import answer_input, input_items


def message(*texts) -> dict:
    return {"type": "message", "parts": [{"kind": "output_text", "text": t} for t in texts]}


def test_a_messages_parts_are_joined_as_written_and_one_without_text_is_left_out():
    items = [message("Hello, ", None, "world"), message(None, ""), {"type": "message"}]
    assert input_items(items) == [
        {"type": "message", "role": "assistant", "content": "Hello, world"}
    ]


def test_a_calls_missing_fields_go_back_empty():
    items = [
        {"type": "function_call", "call_id": "c1"},
        {"type": "function_call_output", "call_id": "c1"},
    ]
    assert input_items(items) == [
        {"type": "function_call", "call_id": "c1", "name": "", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": ""},
    ]


def test_only_a_function_call_makes_its_output_go_back():
    items = [
        {"type": "custom_tool_call", "call_id": "c1", "name": "x"},
        {"type": "function_call_output", "call_id": "c1", "output": "1"},
        {"type": "function_call_output", "call_id": "c2", "output": "2"},
    ]
    assert input_items(items) == []


REASONING = {"type": "reasoning", "id": "rs_1", "summary": ["Thought."], "encrypted_content": "e"}
CARRIED = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [{"type": "summary_text", "text": "Thought."}],
    "encrypted_content": "e",
}


def test_encrypted_reasoning_goes_back_unless_told_otherwise():
    assert input_items([REASONING]) == [CARRIED]
    assert input_items([REASONING], reasoning=False) == []


def test_reasoning_goes_back_only_with_a_completed_answer_and_only_when_asked():
    items = [REASONING, message("Done.")]
    done = {"type": "message", "role": "assistant", "content": "Done."}
    assert answer_input(items, text="Done.", status="completed") == [CARRIED, done]
    assert answer_input(items, text="Done.", status="completed", reasoning=False) == [done]
    cut = answer_input(items, text="Do", status="incomplete", reasoning=True)
    assert [i["type"] for i in cut] == ["message"]
