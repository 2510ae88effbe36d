"""Every event type of the installed openai SDK's ResponseStreamEvent union has a handler;
a type newer than our code is logged once, kept raw, and never breaks the stream."""

import logging
import typing

import orjson
import pytest

from chat.turns import response_events
from chat.turns.state import HANDLED_TYPES, TurnState
from chat.upstream.events import parse_event

openai_types = pytest.importorskip("openai.types.responses")


def sdk_event_types() -> list[str]:
    union = typing.get_args(openai_types.ResponseStreamEvent)[0]  # Annotated[Union, ...]
    names = []
    for member in typing.get_args(union):
        (literal,) = typing.get_args(member.model_fields["type"].annotation)
        names.append(literal)
    return names


def started() -> TurnState:
    state = TurnState()
    state.apply(parse_event(b'{"type":"response.created","sequence_number":0,"response":{}}'))
    state.apply(
        parse_event(
            b'{"type":"response.output_item.added","sequence_number":1,"output_index":0,'
            b'"item":{"type":"message","id":"it_0"}}'
        )
    )
    return state


def test_the_sdk_union_is_walked_whole():
    names = sdk_event_types()
    assert len(names) >= 50  # openai 3.x declares 59; a broken walk would find few or none
    assert "response.output_text.delta" in names and "response.shell_call_command.added" in names


@pytest.mark.parametrize("event_type", sdk_event_types())
def test_every_sdk_event_type_has_a_handler(event_type, caplog):
    assert event_type in HANDLED_TYPES, f"{event_type} has no handler in TurnState"
    state = started()
    payload = {
        "type": event_type, "sequence_number": 2, "output_index": 0, "item_id": "it_0",
        "content_index": 0, "summary_index": 0, "command_index": 0, "delta": "",
    }  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="chat.turns.state"):
        state.apply(parse_event(orjson.dumps(payload)))
    assert "unknown stream event type" not in caplog.text
    assert state.status in ("streaming", "completed", "incomplete", "failed")


def test_an_unknown_type_is_logged_once_kept_raw_and_the_stream_goes_on(caplog, monkeypatch):
    # "Once" is per process: start from none logged, whatever ran before in this process.
    monkeypatch.setattr(response_events, "_logged_unknown", set())
    state = started()
    with caplog.at_level(logging.WARNING, logger="chat.turns.state"):
        for seq in (2, 3):
            state.apply(
                parse_event(
                    orjson.dumps(
                        {"type": "response.teleport.engaged", "sequence_number": seq,
                         "output_index": 0, "item_id": "it_0", "payload": {"x": "y" * 10}}
                    )
                )
            )  # fmt: skip
        state.apply(
            parse_event(
                b'{"type":"response.output_text.delta","sequence_number":4,"output_index":0,'
                b'"content_index":0,"delta":"still here"}'
            )
        )
    assert caplog.text.count("response.teleport.engaged") == 1
    kept = state.items[0].raw["unknown_events"]
    assert [e["type"] for e in kept] == ["response.teleport.engaged"] * 2
    assert kept[0]["payload"] == {"x": "y" * 10}
    assert state.text == "still here"


def test_unknown_events_kept_on_an_item_are_capped():
    state = started()
    for seq in range(2, 60):
        state.apply(
            parse_event(
                orjson.dumps(
                    {"type": "response.flood", "sequence_number": seq, "output_index": 0,
                     "big": "z" * 200_000}
                )
            )
        )  # fmt: skip
    kept = state.items[0].raw["unknown_events"]
    assert len(kept) == 20
    assert kept[0] == {"type": "response.flood", "dropped": "larger than 16 KB"}
    assert len(orjson.dumps(kept)) < 20 * 16_384
