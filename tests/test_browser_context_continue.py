"""Context that never breaks a conversation, and Continue, in Chromium (issue 14.3, 14.4):
a length cut-off shown as incomplete with Continue in two tabs and after a reload; a message
too long for the model refused before anything is sent; older messages left out, said so; an
upstream context overflow in our words, without a Retry that cannot help."""

import pytest

from chat.turns.continuation import GO_ON
from tests import fake_upstream as fake
from tests.browser_steps import (
    ANSWER,
    answer_text,
    ask,
    login,
    new_conversation,
    second_tab,
    serving,
    wait_status,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
LIMIT = 10  # max output tokens; the fake counts one token per streamed piece


@pytest.fixture(scope="module")
def server(module_upstream, tmp_path_factory):
    with serving(
        tmp_path_factory.mktemp("live-context"),
        module_upstream,
        CHAT_MODEL="small",
        CHAT_MODELS="small:2048",
        CHAT_MAX_OUTPUT_TOKENS=str(LIMIT),
    ) as live:
        yield live


def test_a_length_cut_is_incomplete_with_continue_in_every_tab(browser, server, module_upstream):
    first = "".join(f"w{i:02d} " for i in range(LIMIT))  # exactly LIMIT pieces of 4
    module_upstream.enqueue(fake.text_stream(first, chunk=4), fake.text_stream("the end.", chunk=4))
    page = login(browser, server)
    new_conversation(page)
    other = second_tab(page)
    ask(page, "Count to twenty")
    for tab in (page, other):
        wait_status(tab, "incomplete")
        box = tab.text_content(f"{ANSWER} .error-slot")
        assert "reached the length limit" in box and "Continue" in box
        assert tab.text_content(f"{ANSWER} .badge") == "Incomplete"
    page.reload()  # as stored, the same
    wait_status(page, "incomplete")
    page.click(f"{ANSWER} button.continue-button")
    for tab in (page, other):
        wait_status(tab, "completed")
        tab.wait_for_function(
            "s => document.querySelector(s).textContent.includes('the end.')",
            arg=f"{ANSWER} .items",
        )
        text = tab.text_content(f"{ANSWER} .items")
        assert first.strip() in text and text.count("w00") == 1
        assert tab.locator(f"{ANSWER} button.continue-button").count() == 0
        assert tab.locator(".message.assistant").count() == 1  # the same message went on
    again = module_upstream.posted()[-1]
    assert again["max_output_tokens"] == LIMIT
    assert again["input"][-1] == {"role": "user", "content": GO_ON}
    assert first.strip() in str(again["input"][-2])
    page.reload()
    wait_status(page, "completed")
    assert "the end." in page.text_content(f"{ANSWER} .items")
    page.context.close()


def test_a_message_too_long_is_refused_and_older_ones_leave_to_fit(
    browser, server, module_upstream
):
    page = login(browser, server)
    new_conversation(page)
    sent_before = len(module_upstream.posted())
    ask(page, "a " * 3500)  # ~2,300 estimated tokens: over the 2,048 window alone
    page.wait_for_function(
        "() => document.querySelector('#composer-error').textContent.includes('too long')"
    )
    error = page.text_content("#composer-error")
    assert "too long for the model" in error and "nothing was sent" in error
    assert page.locator(".message").count() == 0 and len(module_upstream.posted()) == sent_before
    module_upstream.enqueue(fake.text_stream("first answer"), fake.text_stream("second answer"))
    ask(page, "b " * 1500)
    wait_status(page, "completed")
    assert "left out" not in page.text_content(f"{ANSWER} .error-slot")
    ask(page, "c " * 1500)  # with the first exchange it would not fit: that one stays home
    page.wait_for_function(
        "s => document.querySelectorAll(s).length == 2", arg=".message.assistant"
    )
    wait_status(page, "completed")
    note = "2 earlier messages were left out to fit the model."
    page.wait_for_function(
        "([s, n]) => document.querySelector(s).textContent.includes(n)",
        arg=[f"{ANSWER} .error-slot", note],
    )
    assert answer_text(page).strip() == "second answer"
    assert [i["content"][:4] for i in module_upstream.posted()[-1]["input"]] == ["c c "]
    page.reload()
    wait_status(page, "completed")
    assert note in page.text_content(f"{ANSWER} .error-slot")
    page.context.close()


def test_an_upstream_context_overflow_is_explained_without_retry(browser, server, module_upstream):
    body = {"error": {"code": 400, "type": "exceed_context_size_error",
                      "message": "request (3031 tokens) exceeds the available context size"}}  # fmt: skip
    module_upstream.enqueue(fake.http_error(400, body), fake.text_stream("fine again"))
    page = login(browser, server)
    new_conversation(page)
    ask(page, "hello")
    wait_status(page, "failed")
    box = page.text_content(f"{ANSWER} .error-slot")
    assert "too long for the model to read" in box and "exceeds" not in box
    assert "context_length_exceeded" in box
    assert page.locator(f"{ANSWER} .error-slot button").count() == 0  # no Retry
    ask(page, "hi")
    page.wait_for_function(
        "s => document.querySelectorAll(s).length == 2", arg=".message.assistant"
    )
    wait_status(page, "completed")
    assert answer_text(page).strip() == "fine again"
    page.context.close()
