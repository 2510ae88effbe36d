"""Fitting a turn's input to the model's context window (chat/context.py): oldest turns out
first, the new message never cut, one too long for the model refused in plain words."""

import pytest

from chat import context

WINDOW = 2048


def turn(n: int, chars: int) -> list[dict]:
    return [
        {"role": "user", "content": f"q{n} " + "x" * chars},
        {"role": "assistant", "content": f"a{n} " + "y" * chars},
    ]


def test_everything_is_sent_when_it_fits():
    items = [*turn(1, 30), *turn(2, 30), {"role": "user", "content": "hi"}]
    fitted = context.fit(items, window=WINDOW, answer_room=512)
    assert fitted.input == items and fitted.left_out == 0 and fitted.note == ""


def test_the_oldest_turns_are_left_out_first_and_counted_as_messages():
    items = [*turn(1, 2000), *turn(2, 2000), *turn(3, 300), {"role": "user", "content": "hi"}]
    fitted = context.fit(items, window=WINDOW, answer_room=512)
    assert fitted.input == [*turn(3, 300), {"role": "user", "content": "hi"}]
    assert fitted.left_out == 4
    assert fitted.note == "4 earlier messages were left out to fit the model."
    assert context.estimate(fitted.input) <= WINDOW - 512


def test_a_tool_turn_leaves_with_its_calls_and_outputs():
    tool_turn = [
        {"role": "user", "content": "z" * 4500},
        {"type": "function_call", "call_id": "c1", "name": "calc", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
        {"role": "assistant", "content": "It is 42."},
    ]
    fitted = context.fit([*tool_turn, {"role": "user", "content": "and?"}], window=WINDOW,
                         answer_room=512)  # fmt: skip
    assert fitted.input == [{"role": "user", "content": "and?"}] and fitted.left_out == 2
    assert fitted.note == "2 earlier messages were left out to fit the model."


def test_one_message_too_long_for_the_model_is_refused_with_what_to_do():
    with pytest.raises(context.MessageTooLong) as refused:
        context.fit([{"role": "user", "content": "w " * 16_000}], window=WINDOW, answer_room=512)
    text = str(refused.value)
    assert "too long for the model" in text and "2,048" in text
    assert "Shorten it" in text and "nothing was sent" in text


def test_instructions_and_tool_schemas_take_their_room():
    items = [*turn(1, 600), {"role": "user", "content": "hi"}]
    assert context.fit(items, window=WINDOW, answer_room=512).left_out == 0
    fitted = context.fit(items, window=WINDOW, answer_room=512, fixed=1200)
    assert fitted.left_out == 2


def test_the_estimate_is_on_the_safe_side_of_the_local_models_tokenizer():
    # llama.cpp counted 6746 tokens for a 32,000-character message (issue 14).
    assert context.estimate("a" * 32_000) >= 6746 * 1.5
