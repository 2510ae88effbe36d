"""What a terminal response leaves on the turn: its token counts (each one read from where
the server reports it), the usage as sent, its error, and the reasons a round ends early
that are ours (cut at the output limit, stopped after the tool-round limit)."""

from chat.turns.state import TurnState
from chat.turns.tokens import TokenUsage, usage_from
from chat.upstream.events import Usage
from tests.test_state import apply_all


def usage(**fields) -> Usage:
    return Usage.model_validate(fields)


def test_every_count_is_read_from_where_the_server_reports_it():
    counts = usage_from(
        usage(
            input_tokens=100,
            input_tokens_details={"cached_tokens": 40, "cache_write_tokens": 7},
            output_tokens=30,
            output_tokens_details={"reasoning_tokens": 12},
            total_tokens=130,
        )
    )
    assert counts == TokenUsage(
        input_tokens=100,
        cached_tokens=40,
        cache_write_tokens=7,
        output_tokens=30,
        reasoning_tokens=12,
        total_tokens=130,
    )


def test_a_missing_or_zero_total_is_the_sum_of_input_and_output():
    for total in (None, 0, -1, "130"):
        counts = usage_from(usage(input_tokens=100, output_tokens=30, total_tokens=total))
        assert counts.total_tokens == 130, total
    # A total the server reports is kept as it is, even where it is not the sum.
    assert usage_from(usage(input_tokens=1, output_tokens=2, total_tokens=9)).total_tokens == 9


def test_the_terminal_response_keeps_its_usage_as_sent_without_empty_fields():
    state = TurnState()
    apply_all(
        state,
        {
            "type": "response.completed",
            "response": {
                "status": "completed",
                "usage": {"input_tokens": 3, "output_tokens": 1, "x_server_field": 5},
            },
        },
    )
    assert state.raw_usage == {"input_tokens": 3, "output_tokens": 1, "x_server_field": 5}
    assert state.usage == TokenUsage(input_tokens=3, output_tokens=1, total_tokens=4)


def test_a_failed_responses_error_code_is_kept_and_its_text_only_for_the_log():
    state = TurnState()
    error = {"code": "rate_limit_exceeded", "message": "Slow down, key sk-123"}
    apply_all(state, {"type": "response.failed", "response": {"status": "failed", "error": error}})
    assert state.status == "failed"
    assert state.error_code == "rate_limit_exceeded"
    assert "sk-123" not in state.error_message
    assert state.error_detail == "Slow down, key sk-123"


def completed_with(output_tokens: int | None, status: str = "completed") -> TurnState:
    state = TurnState()
    state.usage = None if output_tokens is None else TokenUsage(output_tokens=output_tokens)
    state.status = status
    return state


def test_only_a_completed_round_with_usage_can_be_cut_at_the_output_limit():
    for status in ("failed", "incomplete", "cancelled"):
        state = completed_with(16, status)
        assert not state.cut_at_length(16), status
        assert state.status == status and state.incomplete_reason is None
    state = completed_with(None)
    assert not state.cut_at_length(16)
    assert state.status == "completed" and state.incomplete_reason is None


def test_stopping_after_the_tool_round_limit_ends_incomplete_with_its_reason():
    state = TurnState()
    state.stop_early("max_tool_rounds", "Stopped after 8 tool rounds.")
    assert state.status == "incomplete"
    assert state.incomplete_reason == "max_tool_rounds"
    assert state.warnings == ["Stopped after 8 tool rounds."]


def test_usage_arriving_on_a_repeated_terminal_event_is_flushed():
    """The status is unchanged, so only the terminal event's own mark sends the usage out."""
    state = TurnState()
    apply_all(state, {"type": "response.completed", "response": {"status": "completed"}})
    state.take_changes()
    usage = {"input_tokens": 3, "output_tokens": 1}
    apply_all(
        state, {"type": "response.completed", "response": {"status": "completed", "usage": usage}}
    )
    assert state.take_changes().status is True
