"""snapshot_of (chat/turns/snapshot.py): every field services store and relays render is
copied from the turn's state, and the copy does not change when the state goes on."""

from datetime import UTC, datetime

from chat.turns.snapshot import snapshot_of
from chat.turns.state import TurnState
from chat.turns.tokens import TokenUsage


def a_state() -> TurnState:
    """Two rounds, every field set to something other than its default."""
    items = [{"type": "message", "parts": [{"kind": "output_text", "text": "first"}]}]
    state = TurnState.restore(
        items=items, status="streaming", response_id="resp_1", model="m-2025",
        last_seq=7, background=True, rounds=[{"start": 0}],
    )  # fmt: skip
    state.usage = TokenUsage(input_tokens=3, output_tokens=4, total_tokens=7)
    state.raw_usage = {"input_tokens": 3}
    state.events = 11
    state.begin_round()  # round 1 is recorded with its usage; round 2 starts
    state.response_id, state.last_seq = "resp_2", 2
    state.usage = TokenUsage(input_tokens=5, output_tokens=6, total_tokens=11)
    state.raw_usage = {"input_tokens": 5}
    state.status = "incomplete"
    state.error_code, state.error_message = "server_error", "It broke."
    state.incomplete_reason = "max_output_tokens"
    state.guard.notes.add("bad_event", "One event could not be read.")
    return state


def test_every_field_is_copied():
    state = a_state()
    first_event = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first_token = datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)
    snapshot = snapshot_of(state, first_event_at=first_event, first_token_at=first_token)
    assert (snapshot.status, snapshot.text, snapshot.model) == ("incomplete", "first", "m-2025")
    assert snapshot.items == [item.to_dict() for item in state.items]
    assert snapshot.items[0]["parts"][0]["text"] == "first"
    assert (snapshot.response_id, snapshot.background, snapshot.last_seq) == ("resp_2", True, 2)
    assert (snapshot.error_code, snapshot.error_message) == ("server_error", "It broke.")
    assert snapshot.incomplete_reason == "max_output_tokens"
    assert snapshot.warnings == ["One event could not be read."]
    assert snapshot.usage == TokenUsage(input_tokens=5, output_tokens=6, total_tokens=11)
    assert snapshot.raw_usage == {"input_tokens": 5}
    assert snapshot.events == 11
    assert [r["response_id"] for r in snapshot.rounds] == ["resp_1", "resp_2"]
    assert snapshot.rounds[0]["usage"]["input_tokens"] == 3
    assert (snapshot.first_event_at, snapshot.first_token_at) == (first_event, first_token)


def test_the_copy_stays_as_it_was():
    state = a_state()
    snapshot = snapshot_of(state)
    assert (snapshot.first_event_at, snapshot.first_token_at) == (None, None)
    state.guard.notes.add("other", "Another warning.")
    assert snapshot.warnings == ["One event could not be read."]
