"""What is kept of data that is not a JSON object: at most 200 characters, read as UTF-8 with
replacement characters (never an exception from the parser), for bytes and text alike."""

from chat.upstream.events import MALFORMED, parse_event


def test_the_message_is_clipped_to_200_characters():
    for data in (b"x" * 500, "x" * 500):
        event = parse_event(data)
        assert event.type == MALFORMED
        assert event.message == "x" * 200


def test_invalid_utf8_that_is_not_json_reads_with_replacement_characters():
    event = parse_event(b"not json \xff\xfe")
    assert event.type == MALFORMED
    assert event.message == "not json \ufffd\ufffd"


def test_text_that_is_not_json():
    event = parse_event("{not json")
    assert event.type == MALFORMED
    assert event.message == "{not json"
