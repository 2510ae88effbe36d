"""Where a taken-over turn starts again (chat/turns/resume.py, Resume.state): its last
checkpoint (a background-mode stream resumed after the last sequence number kept), a fresh
start when nothing numbered was kept, or a new round after the stored items (an answered
approval, a Continue)."""

from chat.turns.items import Item, Part
from chat.turns.resume import Resume

CALL = Item(type="function_call", call_id="c1", name="calculator", arguments='{"x":1}')
OUTPUT = Item(type="function_call_output", call_id="c1", output="1")
ANSWER = Item(type="message", parts=[Part(text="One.")])
ITEMS = [CALL.to_dict(), OUTPUT.to_dict(), ANSWER.to_dict()]
FINISHED = {"response_id": "resp_1", "status": "completed", "start": 0, "events": 5}


def resume(**fields) -> Resume:
    values = dict(
        message_id=7, conversation_id=3, lease_owner="sweeper", response_id="resp_2",
        last_seq=4, items=ITEMS, model="m-2025", first_event_at=None, first_token_at=None,
        rounds=[FINISHED, {"response_id": "resp_2", "status": "streaming", "start": 2}],
    )  # fmt: skip
    return Resume(**{**values, **fields})


def test_a_background_stream_goes_on_from_its_checkpoint():
    state = resume().state()
    assert (state.status, state.response_id, state.model) == ("streaming", "resp_2", "m-2025")
    assert state.last_seq == 4 and state.background is True
    assert [i.type for i in state.items] == ["function_call", "function_call_output", "message"]
    assert state.text == "One."
    assert state.rounds == [FINISHED] and state.round_start == 2  # round 2 is being resumed
    assert [r["response_id"] for r in state.all_rounds()] == ["resp_1", "resp_2"]


def test_nothing_numbered_kept_starts_the_stream_again():
    state = resume(last_seq=None).state()
    assert state.items == [] and state.rounds == [] and state.response_id is None
    assert state.status == "queued" and state.last_seq is None and state.background is False


def test_a_new_round_after_the_stored_items_is_a_new_response():
    rounds = [{**FINISHED, "billed": True}, {"response_id": "resp_2", "status": "completed",
                                            "start": 2, "billed": True}]  # fmt: skip
    then = [{"type": "mcp_approval_response", "approve": True}]
    state = resume(rounds=rounds, then_input=then).state()
    assert (state.status, state.response_id, state.model) == ("streaming", None, "m-2025")
    assert state.last_seq is None and state.background is False
    assert len(state.items) == 3 and state.text == "One."
    # the stored rounds are finished ones; the new round starts after every stored item
    assert state.rounds == rounds and state.round_start == 3
    assert state.all_rounds()[-1]["start"] == 3
