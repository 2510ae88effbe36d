"""Earlier answers as input items: tool calls with their outputs, reasoning where kept, and
an answer that did not complete never re-sent as if it had."""

from chat.turns.replay import answer_input

CALL = {
    "type": "function_call",
    "call_id": "c1",
    "name": "calculator",
    "arguments": '{"expression":"1"}',
}
OUTPUT = {"type": "function_call_output", "call_id": "c1", "output": "1"}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": ["hm"], "encrypted_content": "enc"}
MESSAGE = {"type": "message", "parts": [{"kind": "output_text", "text": "It is 1."}]}


def test_a_completed_answer_goes_back_with_its_calls_outputs_and_reasoning():
    sent = answer_input([REASONING, CALL, OUTPUT, MESSAGE], text="It is 1.", status="completed")
    assert sent == [
        {"type": "reasoning", "id": "rs_1", "encrypted_content": "enc",
         "summary": [{"type": "summary_text", "text": "hm"}]},
        {"type": "function_call", "call_id": "c1", "name": "calculator", "arguments": '{"expression":"1"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "1"},
        {"type": "message", "role": "assistant", "content": "It is 1."},
    ]  # fmt: skip


def test_reasoning_without_encrypted_content_and_unanswered_calls_stay_out():
    plain = {**REASONING, "encrypted_content": ""}
    lone = {**CALL, "call_id": "c2"}
    sent = answer_input([plain, lone, MESSAGE], text="It is 1.", status="completed")
    assert sent == [{"type": "message", "role": "assistant", "content": "It is 1."}]


def test_a_cut_off_answer_is_marked_and_a_failed_one_without_text_is_left_out():
    sent = answer_input([CALL, OUTPUT, MESSAGE], text="It is", status="cancelled")
    assert [i["type"] for i in sent] == ["function_call", "function_call_output", "message"]
    assert sent[-1]["content"].startswith("It is\n\n[This answer was cut off (cancelled)")
    assert answer_input([], text="", status="failed") == []
    incomplete = answer_input([MESSAGE], text="It is 1.", status="incomplete")
    assert "cut off (incomplete)" in incomplete[-1]["content"]


def test_old_rows_without_items_go_back_as_their_text():
    assert answer_input([], text="Paris.", status="completed") == [
        {"type": "message", "role": "assistant", "content": "Paris."}
    ]
