"""A hostile upstream as a person sees it, in Chromium (issue 13): two tabs and a reload.

Bad events are one short, counted warning line each (never a list growing per event), the
good text is whole, and an error body that echoes a key shows our words, never the key.
"""

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import (
    ANSWER,
    answer_text,
    ask,
    login,
    new_conversation,
    second_tab,
    wait_status,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
SECRET = "sk-live-BROWSER-SECRET-0123456789"
WHERE = {"item_id": "msg_h", "output_index": 0, "content_index": 0}


def hostile_stream() -> fake.Reply:
    response = {"id": "resp_h", "status": "in_progress", "model": "fake-model", "output": []}
    usage = {"input_tokens": -4, "output_tokens": 3, "total_tokens": -1}
    return fake.events(
        [
            {"type": "response.created", "response": response},
            {"type": "response.output_item.added", "output_index": 0,
             "item": {"id": "msg_h", "type": "message", "content": []}},
            {"type": "response.output_text.delta", **WHERE, "delta": "Good start, "},
            *["data: {not json\n\n"] * 500,
            {"type": "response.output_text.delta", **{**WHERE, "content_index": 100_000},
             "delta": "PADDING"},
            {"type": "response.output_text.delta", **WHERE, "delta": "good end\x00."},
            {"type": "response.completed",
             "response": {**response, "status": "completed", "usage": usage}},
        ],
        delay=0.002,
    )  # fmt: skip


def warnings_of(page) -> list[str]:
    return [w.strip() for w in page.locator(f"{ANSWER} .warning").all_text_contents()]


def test_bad_events_are_one_counted_warning_in_every_tab_and_after_reload(
    browser,  # noqa: F811
    server,  # noqa: F811
    module_upstream,  # noqa: F811
):
    module_upstream.enqueue(hostile_stream())
    first = login(browser, server)
    new_conversation(first)
    second = second_tab(first)
    ask(first, "Be hostile")
    for page in (first, second):
        wait_status(page, "completed")
    expected = [
        "Skipped a malformed event: {not json (and 499 more malformed events)",
        "Skipped an event from the model server with an out-of-range index 100000.",
    ]
    for page in (first, second):
        assert answer_text(page).strip() == "Good start, good end."
        assert warnings_of(page) == expected
    first.reload()
    wait_status(first, "completed")
    assert answer_text(first).strip() == "Good start, good end."
    assert warnings_of(first) == expected
    first.context.close()


def test_an_error_body_echoing_a_key_shows_our_words_not_the_key(
    browser,  # noqa: F811
    server,  # noqa: F811
    module_upstream,  # noqa: F811
):
    body = {"error": {"message": f"Incorrect API key provided: Authorization: Bearer {SECRET}",
                      "type": "invalid_request_error", "code": "invalid_api_key"}}  # fmt: skip
    module_upstream.enqueue(fake.http_error(401, body))
    page = login(browser, server)
    new_conversation(page)
    ask(page, "Who am I?")
    wait_status(page, "failed")
    shown = page.text_content(f"{ANSWER} .error-slot")
    assert "did not accept our API key" in shown
    assert SECRET not in page.content()
    page.reload()
    wait_status(page, "failed")
    assert "did not accept our API key" in page.text_content(f"{ANSWER} .error-slot")
    assert SECRET not in page.content()
    page.context.close()
