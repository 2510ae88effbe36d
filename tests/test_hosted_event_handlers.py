"""The hosted-tool event handlers (chat/turns/hosted_events.py) one rule at a time: progress
statuses (from a real web search recording), shell commands and output, image previews and
final images, unknown events kept raw, and every bound. The mutation pass found these rules
unpinned by the wider replay tests."""

import base64
import logging

import orjson
import pytest

from chat.turns import hosted_events as he
from chat.turns.bounds import MAX_ITEMS
from chat.turns.items import Item
from chat.turns.state import TurnState
from chat.upstream.events import StreamEvent, parse_event
from tests import hosted_streams as synth
from tests.fixtures import data_lines, fixture_path

PNG = base64.b64decode(synth.PNG_B64)


def ev(**data) -> StreamEvent:
    return parse_event(orjson.dumps(data))


def state_with(item: dict, index: int = 0) -> TurnState:
    state = TurnState()
    state.apply(ev(type="response.output_item.added", output_index=index, item=item))
    state.take_changes()
    return state


# --- progress: the item's status, from the recorded web search ---


def test_each_recorded_web_search_step_sets_its_items_status():
    state, seen = TurnState(), []
    for line in data_lines(fixture_path("gpt5_nano_web_search.jsonl")):
        event = parse_event(line)
        state.apply(event)
        if event.type in he.PROGRESS:
            position = state.find_item(event)
            seen.append((event.type.rsplit(".", 1)[1], state.items[position].status))
    assert len(seen) == 12
    assert all(step == status for step, status in seen)


def test_a_progress_event_returns_whether_the_status_changed():
    state = state_with({"id": "ws_1", "type": "web_search_call", "status": "in_progress"})
    searching = ev(type="response.web_search_call.searching", item_id="ws_1", output_index=0)
    assert he.apply_progress(state, searching) is True
    assert state.items[0].status == "searching" and state.take_changes().items == {0}
    assert he.apply_progress(state, searching) is False  # repeated: no change, no frame
    assert not state.take_changes()


def test_a_progress_event_for_an_unknown_item_is_dropped():
    state = state_with({"id": "ws_1", "type": "web_search_call", "status": "in_progress"})
    stray = ev(type="response.web_search_call.completed", item_id="ws_9", output_index=3)
    assert he.apply_progress(state, stray) is False
    assert state.items[0].status == "in_progress" and len(state.items) == 1


# --- shell calls ---


def shell(kind: str, index, output_index: int = 0, **extra) -> StreamEvent:
    kind = f"response.shell_call_{kind}"
    return ev(type=kind, output_index=output_index, command_index=index, **extra)


def test_shell_events_imply_a_shell_call_item_and_pad_earlier_commands():
    state = TurnState()
    assert he.apply_shell(state, shell("command.delta", 1, delta="ls")) is False  # coalesced
    assert state.items[0].type == "shell_call"
    assert state.items[0].raw["action"]["commands"] == ["", "ls"]
    assert he.apply_shell(state, shell("command.done", 1, command="ls -la")) is True
    assert state.items[0].raw["action"]["commands"] == ["", "ls -la"]  # the done value wins


def test_a_shell_delta_that_is_not_text_adds_nothing():
    state = TurnState()
    he.apply_shell(state, shell("command.delta", 0, delta="pwd"))
    he.apply_shell(state, shell("command.delta", 0, delta={"x": 1}))
    he.apply_shell(state, shell("command.done", 0, command=7))  # not text: the deltas stay
    assert state.items[0].raw["action"]["commands"] == ["pwd"]


@pytest.mark.parametrize("index", [-1, he.MAX_COMMANDS, "0", True, None])
def test_a_command_index_out_of_range_or_not_an_int_is_dropped(index):
    state = TurnState()
    assert he.apply_shell(state, shell("command.delta", index, delta="rm")) is False
    assert state.items == []


def test_the_last_command_index_is_kept():
    state = TurnState()
    he.apply_shell(state, shell("command.delta", he.MAX_COMMANDS - 1, delta="x"))
    assert len(state.items[0].raw["action"]["commands"]) == he.MAX_COMMANDS


def test_shell_output_deltas_pad_earlier_commands_and_take_both_streams():
    state = TurnState()
    he.apply_shell(state, shell("output_content.delta", 1, delta={"stdout": "a", "stderr": "e"}))
    he.apply_shell(state, shell("output_content.delta", 1, delta={"stderr": "f", "x": 1}))
    assert state.items[0].raw["output"] == [
        {"stdout": "", "stderr": ""},
        {"stdout": "a", "stderr": "ef"},
    ]


def test_shell_output_done_replaces_the_deltas_bounded():
    state = TurnState()
    he.apply_shell(state, shell("output_content.delta", 0, delta={"stdout": "partial"}))
    long = "y" * (he.MAX_SHELL_OUTPUT_CHARS + 500)
    fields = {"stdout": long, "outcome": {"type": "exit", "exit_code": 0}}
    fields |= {f"k{n}": n for n in range(12)}  # more than the 10 fields kept
    assert he.apply_shell(state, shell("output_content.done", 0, output=[fields])) is True
    done = state.items[0].raw["output"][0]
    assert done["stdout"] == long[: he.MAX_SHELL_OUTPUT_CHARS]
    assert done["outcome"] == {"type": "exit", "exit_code": 0}
    assert list(done) == ["stdout", "outcome", *(f"k{n}" for n in range(8))]


@pytest.mark.parametrize("output", [[], {"stdout": "x"}, ["text"], None])
def test_a_shell_output_done_without_a_result_keeps_the_deltas(output):
    state = TurnState()
    he.apply_shell(state, shell("output_content.delta", 0, delta={"stdout": "kept"}))
    he.apply_shell(state, shell("output_content.done", 0, output=output))
    assert state.items[0].raw["output"] == [{"stdout": "kept", "stderr": ""}]


# --- images ---


def partial(data, **where) -> StreamEvent:
    where = where or {"item_id": "ig_1", "output_index": 0}
    kind = "response.image_generation_call.partial_image"
    return ev(type=kind, partial_image_index=0, partial_image_b64=data, **where)


def test_a_partial_image_before_its_item_implies_it_and_marks_it_generating():
    state = TurnState()
    spaced = synth.PNG_B64[:40] + "\n" + synth.PNG_B64[40:]  # base64 may be wrapped
    assert he.apply_partial_image(state, partial(spaced)) is True
    item = state.items[0]
    assert (item.type, item.id, item.status) == ("image_generation_call", "ig_1", "generating")
    assert item.preview == "data:image/png;base64," + synth.PNG_B64


def test_a_partial_image_sets_the_status_of_an_item_not_yet_generating():
    state = state_with({"id": "ig_1", "type": "image_generation_call", "status": "in_progress"})
    he.apply_partial_image(state, partial(synth.PNG_B64))
    assert state.items[0].status == "generating" and state.take_changes().items == {0}


@pytest.mark.parametrize("data", ["", "bm90IGFuIGltYWdl", "@@@@", 12345])
def test_a_partial_image_that_is_missing_or_not_an_image_is_dropped(data):
    state = TurnState()
    assert he.apply_partial_image(state, partial(data)) is False
    assert state.items == []


def test_a_preview_of_exactly_the_limit_is_kept_and_one_more_quad_is_not():
    body = PNG[:8] + bytes(he.MAX_PREVIEW_B64 // 4 * 3 - 8)
    data = base64.b64encode(body).decode()
    assert len(data) == he.MAX_PREVIEW_B64
    state = TurnState()
    assert he.apply_partial_image(state, partial(data)) is True
    assert len(state.items[0].preview) == len("data:image/png;base64,") + he.MAX_PREVIEW_B64
    assert he.apply_partial_image(TurnState(), partial(data + "AAAA")) is False


def test_the_final_image_replaces_the_preview():
    state = state_with({"id": "ig_1", "type": "image_generation_call", "status": "in_progress"})
    he.apply_partial_image(state, partial(synth.PNG_B64))
    done = {"id": "ig_1", "type": "image_generation_call", "result": synth.PNG_B64}
    state.apply(ev(type="response.output_item.done", output_index=0, item=done))
    assert state.items[0].preview == ""
    assert state.images[0] == (PNG, "image/png")


def test_a_final_image_that_is_not_an_image_is_dropped_with_a_warning(caplog):
    item = state_with({"id": "ig_1", "type": "image_generation_call"}).items[0]
    item.preview = "data:image/png;base64,x"
    with caplog.at_level(logging.WARNING, logger="chat.turns.hosted_events"):
        assert he.take_image(item, {"result": "bm90IGFuIGltYWdl"}) is None
    assert caplog.messages == ["dropped an image_generation_call result: too large or not an image"]
    assert item.preview == "data:image/png;base64,x"  # nothing replaced it


# --- unknown events kept raw ---


def unknown(size: int = 0, kind: str = "response.web_search_call.rethinking") -> StreamEvent:
    return ev(type=kind, item_id="ws_1", output_index=0, note="n" * size)


def test_an_unknown_event_is_kept_as_sent_without_empty_fields():
    item = state_with({"id": "ws_1", "type": "web_search_call"}).items[0]
    he.keep_unknown(item, unknown(3))
    assert item.raw["unknown_events"] == [
        {
            "type": "response.web_search_call.rethinking",
            "item_id": "ws_1",
            "output_index": 0,
            "note": "nnn",
        }
    ]


def test_an_unknown_event_of_exactly_the_limit_is_kept_and_a_larger_one_is_summed_up():
    item = state_with({"id": "ws_1", "type": "web_search_call"}).items[0]
    base = len(orjson.dumps(unknown(0).model_dump(exclude_none=True)))
    he.keep_unknown(item, unknown(he.MAX_UNKNOWN_BYTES - base))
    assert len(orjson.dumps(item.raw["unknown_events"][0])) == he.MAX_UNKNOWN_BYTES
    long_type = "response.web_search_call." + "z" * 200
    he.keep_unknown(item, unknown(he.MAX_UNKNOWN_BYTES, long_type))
    assert item.raw["unknown_events"][1] == {
        "type": long_type[:100],
        "dropped": "larger than 16 KB",
    }


def test_past_the_limit_on_items_shell_and_image_events_add_nothing():
    state = TurnState()
    for n in range(MAX_ITEMS):
        state.store(Item(type="message", id=f"m{n}", output_index=n))
    stray = shell("command.done", 0, output_index=MAX_ITEMS, command="ls")  # no such item
    assert he.apply_shell(state, stray) is False
    assert he.apply_partial_image(state, partial(synth.PNG_B64, item_id="ig_x")) is False
    assert len(state.items) == MAX_ITEMS and state.items[0].raw == {}
