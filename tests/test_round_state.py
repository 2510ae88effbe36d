"""TurnState across rounds: a second upstream response goes on into the same message."""

from chat.turns.items import Item
from chat.turns.state import TurnState
from chat.upstream.events import parse_event
from tests.fake_streams import _tool_events
from tests.test_state import apply_all, data_lines, fixture_path, replay


def text_round(rid: str, text: str) -> list[dict]:
    where = {"item_id": f"msg_{rid}", "output_index": 0, "content_index": 0}
    item = {"id": f"msg_{rid}", "type": "message", "role": "assistant"}
    part = {"type": "output_text", "text": text, "annotations": []}
    evs = [
        {"type": "response.created", "response": {"id": rid, "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
        {"type": "response.output_text.delta", **where, "delta": text},
        {"type": "response.completed", "response": {
            "id": rid, "status": "completed", "output": [{**item, "content": [part]}],
            "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}}},
    ]  # fmt: skip
    for seq, ev in enumerate(evs):
        ev["sequence_number"] = seq  # restarts at 0 in every response
    return evs


def two_rounds() -> TurnState:
    state = TurnState()
    apply_all(state, *_tool_events([("calculator", {"expression": "1"})], "think", (20, 5)))
    call = state.items[-1]
    state.add_item(Item(type="function_call_output", call_id=call.call_id, output="1"))
    state.take_changes()
    state.begin_round()
    apply_all(state, *text_round("resp_2", "The answer is 1."))
    return state


def test_a_second_response_appends_and_its_output_replaces_only_its_own_items():
    state = two_rounds()
    assert [i.type for i in state.items] == [
        "reasoning", "function_call", "function_call_output", "message",
    ]  # fmt: skip
    assert state.items[0].summary == ["think"]  # round 1 untouched by round 2's output
    assert state.items[3].output_index == 0  # output indices are per response
    assert state.text == "The answer is 1."
    assert state.status == "completed" and state.response_id == "resp_2"


def test_sequence_numbers_restart_per_response_and_duplicates_are_still_dropped():
    state = two_rounds()
    assert state.last_seq == 3
    apply_all(state, text_round("resp_2", "again")[2])  # a replayed seq 2 of round 2
    assert state.text == "The answer is 1."


def test_each_round_keeps_its_response_id_and_usage():
    rounds = two_rounds().all_rounds()
    assert [r["response_id"] for r in rounds] == [rounds[0]["response_id"], "resp_2"]
    assert rounds[0]["response_id"].startswith("resp_tool_")
    assert rounds[0]["usage"]["input_tokens"] == 20 and rounds[1]["usage"]["total_tokens"] == 4
    assert [r["start"] for r in rounds] == [0, 3]


def test_changes_of_a_new_round_address_the_new_positions():
    state = two_rounds()
    assert state.take_changes().items == {3}
    assert state.items[3].text_of("output_text") == "The answer is 1."


def test_restore_goes_on_within_the_current_round():
    state = two_rounds()
    items = [i.to_dict() for i in state.items[:3]]
    restored = TurnState.restore(
        items=items, status="streaming", response_id="resp_2", model=None, last_seq=None,
        background=True, rounds=[state.rounds[0], {"start": 3}],
    )  # fmt: skip
    apply_all(restored, *text_round("resp_2", "The answer is 1."))
    assert [i.type for i in restored.items] == [i.type for i in state.items]
    assert restored.all_rounds()[0] == state.rounds[0]
    assert restored.text == "The answer is 1."


def test_a_recording_as_a_second_round_gives_the_same_answer():
    for name in ("gpt5_moderation_stream.jsonl", "gpt5_nano_web_search.jsonl"):
        alone = replay(data_lines(fixture_path(name)))
        state = two_rounds()
        state.begin_round()
        for line in data_lines(fixture_path(name)):
            state.apply(parse_event(line))
        assert state.items[4:] and [i.type for i in state.items[4:]] == [
            i.type for i in alone.items
        ]
        assert state.text == "The answer is 1.\n\n" + alone.text
        assert state.status == alone.status
