"""An event type newer than this code: logged once in words an operator can read (the type
cut to 100 characters), kept raw only on the item it addresses, and read as a tool's progress
only in the exact shape `response.<its item type>.<step>`."""

import logging

import orjson
import pytest

from chat.turns import response_events
from chat.upstream.events import parse_event
from tests.test_event_coverage import started


@pytest.fixture(autouse=True)
def none_logged_yet(monkeypatch):
    monkeypatch.setattr(response_events, "_logged_unknown", set())


def send(state, kind: str, seq: int = 2, **where) -> None:
    state.apply(parse_event(orjson.dumps({"type": kind, "sequence_number": seq, **where})))


def test_the_log_line_names_the_type_cut_to_100_characters(caplog):
    kind = "response." + "z" * 150
    with caplog.at_level(logging.WARNING, logger="chat.turns.state"):
        send(started(), kind, output_index=0)
    (record,) = [r for r in caplog.records if r.name == "chat.turns.state"]
    assert record.getMessage() == f"unknown stream event type {kind[:100]!r}: kept raw, not shown"


def test_an_unknown_event_without_an_address_is_kept_on_no_item():
    state = started()
    send(state, "response.teleport.engaged")
    assert "unknown_events" not in state.items[0].raw


def test_an_unknown_step_of_the_items_own_type_is_its_status():
    state = started()
    send(state, "response.message.pondering", output_index=0)
    assert state.items[0].status == "pondering"


def test_other_shapes_are_not_a_status():
    for seq, kind in enumerate(
        (
            "response.message.some.thing",
            "response.x.message.pondering",
            "response.message",
            "response.message.added",
            "response.message.delta",
            "response.message.done",
        ),
        start=2,
    ):
        state = started()
        before = state.items[0].status
        send(state, kind, seq=seq, output_index=0)
        assert state.items[0].status == before, kind
        assert [e["type"] for e in state.items[0].raw["unknown_events"]] == [kind]


def test_a_status_step_is_cut_to_40_characters_and_renders_its_item():
    state = started()
    state.take_changes()
    send(state, "response.message." + "p" * 60, output_index=0)
    assert state.items[0].status == "p" * 40
    assert state.take_changes().items == {0}
    send(state, "response.message." + "p" * 60, seq=3, output_index=0)  # the same step again
    assert not state.take_changes().items
