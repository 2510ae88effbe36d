"""Upstream errors reach people in our own words; the server's text only the logs, redacted.

Issue 13: a 401 body that echoed the Authorization header put the API key on the page and
in the admin. Now the stored and shown message is chosen by status/code (errors.describe),
a code that is not a plain identifier is not kept, and the logged detail has secrets removed.
"""

import logging

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message
from chat.upstream import errors
from tests import fake_upstream as fake
from tests.test_runner import run_turn, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
KEY = "sk-test-TOPSECRET-0123456789abcdef"


def test_redact_removes_bearer_tokens_keys_and_the_configured_key():
    text = (
        f"Incorrect API key provided: Authorization: Bearer {KEY}; "
        "api_key=plain-secret-value, other sk-proj-ABCDEFGH12345678 and my-own-key-123456"
    )
    redacted = errors.redact(text, ["my-own-key-123456"])
    for secret in (KEY, "plain-secret-value", "sk-proj-ABCDEFGH12345678", "my-own-key-123456"):
        assert secret not in redacted
    assert redacted.startswith("Incorrect API key provided")


def test_codes_are_plain_identifiers_or_nothing():
    assert errors.safe_code("invalid_api_key") == "invalid_api_key"
    assert errors.safe_code(500) == "500"
    assert errors.safe_code(f"Bearer {KEY}") is None
    assert errors.safe_code("x" * 101) is None and errors.safe_code(True) is None


def test_every_status_and_code_has_our_words():
    assert errors.describe(401, None) == errors.describe(None, "invalid_api_key")
    assert errors.describe(None, "503") == errors.BY_STATUS[503]
    assert "HTTP 418" in errors.describe(418, None)
    assert errors.describe(None, "never-heard-of-it") == "The model server reported an error."


async def test_a_401_echoing_the_key_never_stores_or_shows_it(upstream, user, settings, caplog):
    settings.OPENAI_API_KEY = KEY
    body = {"error": {"message": f"Incorrect API key provided: Authorization: Bearer {KEY}",
                      "type": "invalid_request_error", "code": "invalid_api_key"}}  # fmt: skip
    upstream.enqueue(fake.http_error(401, body))
    with caplog.at_level(logging.WARNING):
        message, _ = await stored(await run_turn(user))
    assert (message.status, message.error_code) == ("failed", "invalid_api_key")
    assert message.error_message == errors.BY_CODE["invalid_api_key"]
    assert upstream.requests[-1]["headers"]["authorization"] == f"Bearer {KEY}"  # it was sent
    assert "Incorrect API key provided" in caplog.text  # the detail is in the log...
    assert KEY not in caplog.text  # ...without the key


async def test_a_stream_error_with_a_hostile_code_and_message(upstream, user, settings, caplog):
    settings.OPENAI_API_KEY = KEY
    upstream.enqueue(
        fake.events([
            {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hi"},
            {"type": "error", "code": f"Bearer {KEY}", "message": f"<b>key</b> {KEY}"},
        ])
    )  # fmt: skip
    with caplog.at_level(logging.WARNING):
        runner = await run_turn(user)
    message, _ = await stored(runner)
    assert (message.status, message.text) == ("failed", "Hi")
    assert message.error_code == "error"
    assert message.error_message == "The model server reported an error."
    stored_row = await sync_to_async(
        lambda: str(Message.objects.filter(pk=message.pk).values().get())
    )()
    assert KEY not in stored_row
    assert "<b>key</b>" in caplog.text and KEY not in caplog.text
