"""An output item's fields as chat/turns/items.py builds them from upstream payloads: what is
taken, what is left out (and said to be), exact size limits, and the text helpers the
accumulator and the limits rely on. Real recordings where one carries the case; the mutation
pass found these rules unpinned by the wider replay tests."""

import orjson
import pytest

from chat.turns import items as it
from chat.turns.bounds import MAX_ID_CHARS, MAX_JSON_BYTES, MAX_PARTS, MAX_RAW_BYTES
from chat.turns.items import Item, Part, build_item, merge_raw, new_item
from chat.turns.state import TurnState
from chat.upstream.events import parse_event
from tests.fixtures import data_lines, fixture_path


def replay(name: str) -> tuple[TurnState, list[dict]]:
    """A recording applied event by event, and its terminal response's output."""
    state, output = TurnState(), []
    for line in data_lines(fixture_path(name)):
        event = parse_event(line)
        state.apply(event)
        if event.is_terminal and event.response is not None:
            output = event.response.output or []
    return state, output


def test_recorded_reasoning_content_is_the_items_reasoning():
    _, output = replay("openrouter_gpt_oss_reasoning_text_stream.jsonl")
    item, cut = build_item(output[0], 0)  # summary [], content [reasoning_text]
    assert item.reasoning == [output[0]["content"][0]["text"]] and item.summary == []
    assert cut is False


def test_recorded_encrypted_reasoning_is_kept_for_stateless_requests():
    state, output = replay("gpt51_codex_max_reasoning_summary_fc.jsonl")
    reasoning = state.items[0]
    assert reasoning.type == "reasoning"
    assert reasoning.encrypted_content == output[0]["encrypted_content"] != ""
    assert "encrypted_content" not in reasoning.raw  # kept once, not twice


def test_encrypted_content_up_to_its_limit_is_kept_and_a_larger_one_dropped():
    limit = it.MAX_ENCRYPTED_CHARS
    kept, _ = build_item({"type": "reasoning", "encrypted_content": "e" * limit}, 0)
    assert len(kept.encrypted_content) == limit
    kept.update_from({"encrypted_content": "f" * (limit + 1)})
    assert kept.encrypted_content == "e" * limit
    message, _ = build_item({"type": "message", "encrypted_content": "x"}, 0)
    assert message.encrypted_content == ""  # only reasoning carries it


@pytest.mark.parametrize("key", ["summary", "content"])
def test_reasoning_parts_past_the_limit_are_cut_and_said_to_be(key):
    entries = [{"type": "summary_text", "text": str(n)} for n in range(MAX_PARTS + 1)]
    item, cut = build_item({"type": "reasoning", key: entries}, 0)
    assert cut is True
    assert len(item.summary if key == "summary" else item.reasoning) == MAX_PARTS
    full, cut = build_item({"type": "reasoning", key: entries[:MAX_PARTS]}, 0)
    assert cut is False
    assert len(full.summary if key == "summary" else full.reasoning) == MAX_PARTS


def test_a_reasoning_item_without_a_summary_still_takes_its_content():
    item, cut = build_item({"type": "reasoning", "content": [{"text": "a"}, {"text": 5}]}, 0)
    assert item.reasoning == ["a", ""] and not cut  # a text that is not a string reads as ""


def test_custom_tool_input_and_call_fields_are_taken_and_non_text_values_ignored():
    item, _ = build_item({"type": "custom_tool_call", "input": "x = 1", "name": "py"}, 2)
    assert (item.input, item.name, item.output_index) == ("x = 1", "py", 2)
    item.update_from({"arguments": {"a": 1}, "input": ["no"], "code": 3})
    assert (item.arguments, item.input, item.code) == ("", "x = 1", "")
    item.update_from({"input": ""})  # an empty value keeps the streamed one
    assert item.input == "x = 1"


def test_an_item_without_a_type_is_unknown_and_new_item_takes_its_index():
    assert build_item({"id": "x"}, None)[0].type == "unknown"
    item = new_item({"type": "function_call", "name": "f"}, 4)
    assert (item.type, item.name, item.output_index) == ("function_call", "f", 4)


def test_a_messages_content_lives_in_parts_and_other_items_keep_theirs_raw():
    part = {"type": "output_text", "text": "hi", "annotations": []}
    message, _ = build_item({"type": "message", "role": "assistant", "content": [part]}, 0)
    assert message.raw == {"type": "message", "role": "assistant"}
    other, _ = build_item({"type": "computer_call", "content": ["shot"]}, 0)
    assert other.raw == {"type": "computer_call", "content": ["shot"]}


def test_content_parts_default_to_answer_text_and_keep_an_unusual_kind():
    message, _ = build_item(
        {
            "type": "message",
            "content": [
                {"text": "a"},
                {"type": "summary_text", "text": "b"},
                {"type": "output_text", "text": None},
            ],
        },
        0,
    )
    assert [(p.kind, p.text) for p in message.parts] == [
        ("output_text", "a"),
        ("summary_text", "b"),
        ("output_text", ""),
    ]
    assert message.text_of("output_text") == "a"


def test_an_annotation_of_exactly_the_limit_is_kept():
    pad = MAX_JSON_BYTES - len(orjson.dumps({"type": "url_citation", "url": ""}))
    exact = {"type": "url_citation", "url": "u" * pad}
    over = {"type": "url_citation", "url": "u" * (pad + 1)}
    part = {"type": "output_text", "text": "t", "annotations": [exact, over]}
    message, _ = build_item({"type": "message", "content": [part]}, 0)
    assert message.parts[0].annotations == [exact]


def test_raw_fields_of_exactly_the_limit_are_kept():
    data = {"type": "web_search_call", "results": ["r" * 60_000] * 17}
    data["results"] = [*data["results"], ""]
    data["results"][-1] = "s" * (MAX_RAW_BYTES - it.json_size(data))
    item, cut = build_item(data, 0)
    assert it.json_size(item.raw) == MAX_RAW_BYTES and not cut
    assert item.raw["results"] == data["results"]


def test_raw_fields_too_large_keep_the_first_64_short_ones():
    data = {"type": "web_search_call", "id": "ws_1"}
    data |= {f"f{n}": "v" * MAX_ID_CHARS for n in range(70)}  # exactly the short limit
    data["blob"] = ["b" * 60_000] * 20
    item, cut = build_item(data, 0)
    assert cut is True
    assert list(item.raw) == ["type", "id", *(f"f{n}" for n in range(62))]
    assert item.raw["f0"] == "v" * MAX_ID_CHARS


def test_a_value_that_is_not_json_counts_as_too_large():
    assert it.json_size({"x": object()}) > MAX_RAW_BYTES
    assert not it.annotation_ok({"x": object()})


def test_merge_raw_keeps_old_values_only_where_the_new_ones_are_empty():
    old = {"a": 1, "b": 2, "s": "out", "nested": {"c": [1], "d": 4}}
    new = {"a": None, "b": 3, "s": "", "e": "", "nested": {"c": [], "d": 5}}
    merged = {"a": 1, "b": 3, "s": "out", "e": "", "nested": {"c": [1], "d": 5}}
    assert merge_raw(old, new) == merged


def test_text_delta_and_refusal_delta_make_parts_of_their_kind():
    """Deltas before their `content_part.added` make the part: its kind is the delta's."""
    state = TurnState()
    message = {"id": "m", "type": "message", "content": []}
    added = {"type": "response.output_item.added", "output_index": 0, "item": message}
    state.apply(parse_event(orjson.dumps(added)))
    for kind, index in (("output_text", 0), ("refusal", 1)):
        delta = {"type": f"response.{kind}.delta", "output_index": 0, "content_index": index}
        state.apply(parse_event(orjson.dumps({**delta, "delta": kind})))
    assert [(p.kind, p.text) for p in state.items[0].parts] == [
        ("output_text", "output_text"),
        ("refusal", "refusal"),
    ]


def test_text_of_joins_the_parts_of_a_kind_without_separators():
    item = Item(type="message", parts=[Part(text="a"), Part(kind="refusal", text="x"),
                                       Part(text="b")])  # fmt: skip
    assert item.text_of("output_text") == "ab" and item.text_of("refusal") == "x"


def test_size_counts_every_text_field_and_clip_takes_from_the_room_left():
    item = Item(type="x", parts=[Part(text="pp")], summary=["s"], reasoning=["rrr"],
                arguments="aaaa", input="iiiii", code="cc")  # fmt: skip
    assert item.size() == 2 + 1 + 3 + 4 + 5 + 2
    item.clip(12)
    assert (item.arguments, item.input, item.code) == ("aaaa", "ii", "")
    assert item.size() == 12


def test_from_dict_reads_a_checkpoint_without_parts():
    item = Item.from_dict({"type": "function_call", "name": "f"})
    assert item.parts == [] and item.name == "f"
    again = Item.from_dict(Item(type="message", parts=[Part(text="t")]).to_dict())
    assert again.parts[0].text == "t"
