"""What `errors.redact` leaves of a server's error text for the logs, exactly: the configured
key from six characters on (shorter, or empty, would wipe ordinary words), and every
credential pattern replaced by the literal `[redacted]`, its label kept (issue 13)."""

import pytest

from chat.upstream.errors import redact


def test_a_six_character_secret_is_redacted():
    assert redact("key abcdef used", ["abcdef"]) == "key [redacted] used"


def test_a_shorter_or_empty_secret_is_left_alone():
    assert redact("key abcde used", ["abcde"]) == "key abcde used"
    assert redact("plain text", [""]) == "plain text"
    assert redact("plain text", ["", "text12"]) == "plain text"


def test_every_given_secret_counts():
    assert redact("one=AAAAAA two=BBBBBB", ["AAAAAA", "BBBBBB"]) == (
        "one=[redacted] two=[redacted]"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sent Bearer tok.en-123 twice", "sent Bearer [redacted] twice"),
        # the header's label takes the scheme word too: more is hidden, never less
        ("Authorization: Bearer tok.en-123", "Authorization: [redacted] [redacted]"),
        ("bearer   xyz, then", "bearer   [redacted], then"),
        ("api_key=hunter2;", "api_key=[redacted];"),
        ('"x-api-key": "hunter2"', '"x-api-key": "[redacted]"'),
        ("apikey : hunter2 rest", "apikey : [redacted] rest"),
        ("used sk-ABCDEFGH1234 here", "used [redacted] here"),
        ("used rk-proj_ABCDEFGH here", "used [redacted] here"),
        ("short sk-abc stays", "short sk-abc stays"),  # under 8 characters: not a key
        ("nothing secret", "nothing secret"),
    ],
)
def test_patterns_are_replaced_by_the_exact_marker(text, expected):
    assert redact(text) == expected
