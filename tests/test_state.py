"""TurnState, the pure accumulator: every recording, and each rule on its own."""

import pytest

from chat.turns.state import TurnState
from chat.upstream import errors
from chat.upstream.events import parse_event
from tests.fixtures import JSONL, NOT_RESPONSES, RAW_SSE, data_lines, expected, fixture_path


def replay(lines) -> TurnState:
    state = TurnState()
    for line in lines:
        state.apply(parse_event(line))
    return state


def apply_all(state: TurnState, *events: dict) -> None:
    import orjson

    for event in events:
        state.apply(parse_event(orjson.dumps(event)))


def function_calls(state: TurnState) -> list[dict]:
    return [
        {"name": i.name, "call_id": i.call_id, "arguments": i.arguments}
        for i in state.items
        if i.type == "function_call"
    ]


@pytest.mark.parametrize("name", [n for n in JSONL + RAW_SSE if n not in NOT_RESPONSES])
def test_every_recording_matches_its_terminal_response(name):
    truth = expected(name)
    state = replay(data_lines(fixture_path(name)))
    assert state.status == truth.status
    assert state.text == truth.text
    assert function_calls(state) == truth.tool_calls
    assert state.error_code == truth.error_code
    assert state.model == truth.model
    assert state.response_id == truth.response_id
    if truth.usage is None:
        assert state.usage is None
    else:
        assert state.usage.input_tokens == truth.usage["input_tokens"]
        assert state.usage.output_tokens == truth.usage["output_tokens"]
        assert state.usage.total_tokens == truth.usage["total_tokens"]
        details = truth.usage.get("input_tokens_details") or {}
        assert state.usage.cached_tokens == details.get("cached_tokens", 0)
        assert state.usage.cache_write_tokens == details.get("cache_write_tokens")
        reasoning = (truth.usage.get("output_tokens_details") or {}).get("reasoning_tokens", 0)
        assert state.usage.reasoning_tokens == reasoning


@pytest.mark.parametrize("name", [n for n in JSONL + RAW_SSE if n not in NOT_RESPONSES])
def test_streamed_text_before_the_end_equals_the_final_text(name):
    """Deltas alone (terminal event withheld) already build the answer the terminal states."""
    lines = data_lines(fixture_path(name))
    state = replay(lines[:-1])
    assert state.text == expected(name).text


def test_reasoning_summary_is_accumulated_from_deltas():
    state = replay(data_lines(fixture_path("gpt51_codex_max_reasoning_summary_fc.jsonl")))
    reasoning = [i for i in state.items if i.type == "reasoning"]
    assert reasoning[0].summary[0].startswith("**Calculating step-by-step using calculator**")


def test_raw_reasoning_text_survives_out_of_order_completion():
    state = replay(data_lines(fixture_path("openrouter_gpt_oss_reasoning_text_stream.jsonl")))
    reasoning = [i for i in state.items if i.type == "reasoning"]
    assert reasoning and reasoning[0].reasoning[0].startswith('The user asks: "What')
    assert state.text == "4"


def test_web_search_calls_and_annotations_are_kept():
    state = replay(data_lines(fixture_path("gpt5_nano_web_search.jsonl")))
    searches = [i for i in state.items if i.type == "web_search_call"]
    assert len(searches) == 4
    assert all(s.status == "completed" for s in searches)
    message = next(i for i in state.items if i.type == "message")
    assert len(message.parts[0].annotations) == 6
    assert message.parts[0].annotations[0]["type"] == "url_citation"


def test_done_value_replaces_accumulated_deltas():
    state = TurnState()
    apply_all(
        state,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "message", "id": "m1"},
        },
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "content_index": 0,
            "delta": "Helo",
        },
        {
            "type": "response.output_text.done",
            "output_index": 0,
            "content_index": 0,
            "text": "Hello",
        },
    )
    assert state.text == "Hello"


def test_llamacpp_stream_without_indices_uses_item_id_and_arrival_order():
    state = TurnState()
    apply_all(
        state,
        {"type": "response.output_item.added", "item": {"type": "message", "id": "a"}},
        {
            "type": "response.content_part.added",
            "item_id": "a",
            "part": {"type": "output_text", "text": ""},
        },
        {"type": "response.output_text.delta", "item_id": "a", "delta": "Hi"},
        {"type": "response.output_text.delta", "delta": " there"},
    )
    assert state.text == "Hi there"
    assert state.last_seq is None


def test_duplicate_sequence_numbers_are_dropped():
    state = TurnState()
    delta = {
        "type": "response.output_text.delta",
        "output_index": 0,
        "content_index": 0,
        "delta": "x",
    }
    apply_all(
        state,
        {**delta, "sequence_number": 1},
        {**delta, "sequence_number": 2},
        {**delta, "sequence_number": 2},
    )
    assert state.text == "xx"
    assert state.last_seq == 2


def test_changes_report_appended_text_and_structural_items_separately():
    state = TurnState()
    apply_all(
        state,
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
    )
    first = state.take_changes()
    assert first.items == {0} and first.status
    apply_all(
        state,
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "content_index": 0,
            "delta": "ab",
        },
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "content_index": 0,
            "delta": "cd",
        },
    )
    second = state.take_changes()
    assert second.appended == {(0, "text", 0): "abcd"}
    assert not second.items and not second.status
    assert not state.take_changes()


def test_delta_before_its_item_is_added_implies_the_item():
    state = TurnState()
    structural = state.apply(
        parse_event(
            b'{"type":"response.function_call_arguments.delta","item_id":"fc_1","delta":"{\\"a\\""}'
        )
    )
    assert structural is False
    assert state.items[0].type == "function_call"
    assert state.items[0].arguments == '{"a"'


def test_unknown_events_and_items_are_kept_and_not_fatal():
    state = TurnState()
    apply_all(
        state,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "hologram_call", "id": "h1", "beam": 3},
        },
        {"type": "response.hologram_call.projecting", "output_index": 0, "item_id": "h1"},
        {"type": "response.brand_new_event", "whatever": [1, 2]},
    )
    assert state.items[0].type == "hologram_call"
    assert state.items[0].raw["beam"] == 3
    assert state.items[0].status == "projecting"
    assert state.status == "streaming"


def test_nested_error_frame_then_failed_keeps_the_code():
    state = replay(data_lines(fixture_path("gpt5_error_insufficient_quota_stream.jsonl")))
    assert state.status == "failed"
    assert state.error_code == "insufficient_quota"
    assert state.error_message == errors.BY_CODE["insufficient_quota"]
    assert "exceeded your current quota" in state.error_detail


def test_flat_error_frame_is_read_too():
    state = TurnState()
    apply_all(state, {"type": "error", "code": "server_error", "message": "boom"})
    assert (state.error_code, state.error_message) == (
        "server_error",
        errors.BY_CODE["server_error"],
    )
    assert state.error_detail == "boom"


def test_llamacpp_chat_style_error_is_an_error_event():
    state = replay([b'{"error":{"code":500,"message":"slot unavailable","type":"server_error"}}'])
    assert state.error_code == "500"
    assert state.error_message == errors.BY_STATUS[500]
    assert state.error_detail == "slot unavailable"


def test_malformed_json_is_skipped_with_a_warning():
    state = replay(
        [
            b'{"type":"response.output_text.delta","delta":"a"',
            b'{"type":"response.output_text.delta","delta":"b"}',
        ]
    )
    assert state.text == "b"
    assert len(state.warnings) == 1


def test_incomplete_terminal_event_records_the_reason():
    state = TurnState()
    apply_all(
        state,
        {"type": "response.output_text.delta", "delta": "partial"},
        {
            "type": "response.incomplete",
            "response": {
                "id": "r1",
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "output": [
                    {
                        "type": "message",
                        "id": "m",
                        "status": "incomplete",
                        "content": [{"type": "output_text", "text": "partial", "annotations": []}],
                    }
                ],
                "usage": {"input_tokens": 5, "output_tokens": 16, "total_tokens": 21},
            },
        },
    )
    assert state.status == "incomplete"
    assert state.incomplete_reason == "max_output_tokens"
    assert state.text == "partial"
    assert state.usage.total_tokens == 21


def test_refusal_is_shown_apart_and_kept_in_history_text():
    state = TurnState()
    apply_all(
        state,
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
        {
            "type": "response.content_part.added",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "refusal"},
        },
        {
            "type": "response.refusal.delta",
            "output_index": 0,
            "content_index": 0,
            "delta": "I can't",
        },
    )
    assert state.items[0].text_of("output_text") == ""
    assert state.items[0].text_of("refusal") == "I can't"
    assert state.text == "I can't"  # kept in history text, shown apart as a refusal


def test_terminal_output_rebuild_keeps_streamed_reasoning_the_output_lacks():
    state = TurnState()
    apply_all(
        state,
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_tmp"},
        },
        {
            "type": "response.reasoning_text.delta",
            "output_index": 0,
            "content_index": 0,
            "delta": "thinking",
        },
        {
            "type": "response.completed",
            "response": {
                "status": "completed",
                "output": [{"type": "reasoning", "id": "rs_final"}],
            },
        },
    )
    assert state.items[0].id == "rs_final"
    assert state.items[0].reasoning == ["thinking"]


def test_client_side_failure_keeps_the_upstream_error_when_there_is_one():
    state = TurnState()
    apply_all(
        state, {"type": "error", "error": {"code": "server_is_overloaded", "message": "busy"}}
    )
    state.fail("stream_cut", "ended early")
    assert state.status == "failed"
    assert state.error_code == "server_is_overloaded"
