"""Citations (`response.output_text.annotation.added`): kept on the addressed part, or the last
part when no content_index comes; at most MAX_ANNOTATIONS per part and MAX_JSON_BYTES each,
what is past either dropped with a warning a person can read; one for an unseen item makes a
message item. A warning of our own (a stop) reads as given."""

import itertools

import orjson

from chat.turns import bounds
from chat.turns.state import TurnState
from chat.upstream.events import parse_event

CITE = {"type": "url_citation", "url": "https://example.com", "title": "E"}
WHERE = {"item_id": "msg_1", "output_index": 0}


def stream(*events: dict) -> TurnState:
    state = TurnState()
    seq = itertools.count()
    first = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}},
        {"type": "response.content_part.added", **WHERE, "content_index": 0,
         "part": {"type": "output_text", "text": "", "annotations": []}},
    ]  # fmt: skip
    for event in [*first, *events]:
        state.apply(parse_event(orjson.dumps({**event, "sequence_number": next(seq)})))
    return state


def cite(annotation=CITE, **where) -> dict:
    return {
        "type": "response.output_text.annotation.added",
        **WHERE,
        **where,
        "annotation": annotation,
    }


def test_a_citation_is_kept_on_its_part():
    state = stream(cite(content_index=0))
    assert state.items[0].parts[0].annotations == [CITE]
    assert state.warnings == []


def test_a_citation_without_content_index_goes_on_the_last_part():
    state = stream(cite())
    assert len(state.items[0].parts) == 1
    assert state.items[0].parts[0].annotations == [CITE]


def test_at_most_max_annotations_per_part():
    many = [
        cite({**CITE, "url": f"https://e.com/{i}"}, content_index=0)
        for i in range(bounds.MAX_ANNOTATIONS + 1)
    ]
    state = stream(*many)
    assert len(state.items[0].parts[0].annotations) == bounds.MAX_ANNOTATIONS
    assert state.warnings == [
        f"Skipped an event from the model server: more than {bounds.MAX_ANNOTATIONS} annotations."
    ]


def test_a_too_large_citation_is_left_out_with_a_warning():
    huge = {**CITE, "title": "t" * bounds.MAX_JSON_BYTES}
    state = stream(cite(huge, content_index=0))
    assert state.items[0].parts[0].annotations == []
    assert state.warnings == ["Left out part of an annotation: it was too large to keep."]


def test_a_citation_for_an_unseen_item_makes_a_message():
    state = stream(cite(item_id="msg_2", output_index=1, content_index=0))
    assert [(i.type, i.id) for i in state.items] == [("message", "msg_1"), ("message", "msg_2")]
    assert state.items[1].parts[0].annotations == [CITE]


def test_our_own_warning_reads_as_given():
    state = TurnState()
    state.stop_early("max_tool_rounds", "Stopped after 8 tool rounds.")
    assert state.warnings == ["Stopped after 8 tool rounds."]
