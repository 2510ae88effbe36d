"""What a new round starts from, what a restore counts as the current round, a failure's
first reason, an item added between rounds, and the count of warnings past the listed kinds."""

from chat.turns import bounds
from chat.turns.bounds import Warnings
from chat.turns.items import Item
from chat.turns.state import TurnState
from tests.test_round_state import text_round
from tests.test_state import apply_all


def test_a_new_round_starts_with_nothing_of_the_last_response():
    state = TurnState()
    apply_all(state, *text_round("resp_1", "one"))
    state.incomplete_reason = "max_output_tokens"  # as an incomplete first round leaves it
    state.begin_round()
    assert state.round_record() == {
        "response_id": None, "status": "streaming", "start": 1,
        "usage": None, "raw_usage": None, "events": 0,
    }  # fmt: skip
    assert state.incomplete_reason is None and state.status == "streaming"
    assert state.all_rounds()[0]["response_id"] == "resp_1"


def restored(rounds):
    items = [Item(type="message", id=f"m{i}").to_dict() for i in range(2)]
    return TurnState.restore(
        items=items, status="streaming", response_id=None, model=None, last_seq=None,
        background=True, rounds=rounds,
    )  # fmt: skip


def test_a_restore_without_rounds_or_start_resumes_a_first_round_from_the_first_item():
    for rounds in (None, [{"start": 0}], [{"start": None}], [{}]):
        state = restored(rounds)
        assert state.round_record()["start"] == 0, rounds
        assert state.rounds == []


def test_a_failure_keeps_its_first_reason():
    state = TurnState()
    state.fail("idle_timeout", "The model server went quiet.")
    state.fail("other", "later")
    assert (state.error_code, state.error_message) == (
        "idle_timeout",
        "The model server went quiet.",
    )
    assert state.status == "failed"


def test_an_item_added_between_rounds_is_rendered_and_past_the_limit_is_not():
    state = TurnState()
    position = state.add_item(Item(type="function_call_output", call_id="c", output="1"))
    assert position == 0
    assert state.take_changes().items == {0}
    for _ in range(bounds.MAX_ITEMS):
        state.add_item(Item(type="function_call_output", call_id="c", output="1"))
    assert state.add_item(Item(type="function_call_output", call_id="c", output="1")) is None
    assert None not in state.take_changes().items


def test_warnings_count_every_one_including_those_past_the_listed_kinds():
    notes = Warnings()
    for kind in range(bounds.MAX_WARNING_KINDS + 3):
        notes.add(f"kind{kind}", "text")
    notes.add("kind0", "again")
    assert len(notes) == bounds.MAX_WARNING_KINDS + 4
    assert notes.lines()[-1] == "… and 3 more warnings."
