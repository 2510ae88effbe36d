"""In Chromium: the composer is honest about the connection, a live answer, errors and length."""

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import ANSWER, ask, login, new_conversation, wait_status
from tests.live_server import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def user_texts(page) -> list[str]:
    return [t.strip() for t in page.locator(".message.user .user-text").all_text_contents()]


def test_the_message_box_has_focus_on_load(browser, server):
    page = login(browser, server)
    new_conversation(page)
    assert page.evaluate("() => document.activeElement.id") == "composer-input"
    page.context.close()


def test_server_down_shows_reconnecting_refuses_send_and_sends_nothing_late(
    browser, module_upstream, tmp_path
):
    live = LiveServer(
        tmp_path, {"OPENAI_BASE_URL": module_upstream.base_url, "OPENAI_API_KEY": "k"}
    ).start()
    try:
        page = login(browser, live)
        new_conversation(page)
        page.wait_for_function("() => !document.getElementById('send-button').disabled")
        assert page.is_hidden("#connection-banner")

        live.halt()
        page.wait_for_selector("#connection-banner:not([hidden])", timeout=15_000)
        assert page.text_content("#connection-banner").strip() == "Reconnecting…"
        assert page.is_disabled("#send-button")
        ask(page, "typed while offline")
        error = page.text_content("#composer-error")
        assert "Not connected" in error and "nothing was sent" in error
        assert page.input_value("#composer-input") == "typed while offline"  # kept, not lost

        live.run()  # same port, same database
        page.wait_for_selector("#connection-banner[hidden]", state="attached", timeout=20_000)
        page.wait_for_function("() => !document.getElementById('send-button').disabled")
        assert page.text_content("#composer-error").strip() == ""  # the offline note is gone
        # Had the refused message been queued, the socket would have sent it on opening,
        # before this one: only this one may be in the conversation.
        module_upstream.enqueue(fake.text_stream("Back again.", delay=0.01))
        ask(page, "sent after reconnecting")
        wait_status(page, "completed")
        assert user_texts(page) == ["sent after reconnecting"]
        page.reload()
        wait_status(page, "completed")
        assert user_texts(page) == ["sent after reconnecting"]
        page.context.close()
    finally:
        live.stop()


def test_enter_while_an_answer_is_written_does_not_submit(browser, server, module_upstream):
    module_upstream.enqueue(fake.text_stream("slow " * 200, chunk=4, delay=0.02))
    page = login(browser, server)
    new_conversation(page)
    ask(page, "first")
    page.wait_for_selector("#stop-button")
    page.wait_for_function(
        f"() => (document.querySelector('{ANSWER} .answer-text')?.textContent || '').length > 10"
    )
    ask(page, "second, too early")
    assert page.is_disabled("#send-button") and page.is_visible("#stop-button")
    assert page.input_value("#composer-input") == "second, too early"  # not sent, not lost
    page.click("#stop-button")
    wait_status(page, "cancelled")
    assert user_texts(page) == ["first"]
    assert page.text_content("#composer-error").strip() == ""  # no stale "still being written"
    page.wait_for_function("() => !document.getElementById('send-button').disabled")
    page.context.close()


def test_a_stale_error_clears_on_the_next_state_change(browser, server, module_upstream):
    page = login(browser, server)
    new_conversation(page)
    other = page.context.new_page()  # the next state change comes from another tab
    other.goto(page.url)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page.evaluate("() => navigator.clipboard.writeText('x'.repeat(40000))")
    page.focus("#composer-input")
    page.keyboard.press("Control+V")
    assert "not added" in page.text_content("#composer-error")
    module_upstream.enqueue(fake.text_stream("An answer. " * 30, chunk=3, delay=0.02))
    ask(other, "a question from the other tab")
    page.wait_for_selector("#stop-button")
    assert page.text_content("#composer-error").strip() == ""
    wait_status(page, "completed")
    page.context.close()


def test_counter_near_the_limit_and_a_paste_over_it_is_refused_whole(browser, server):
    page = login(browser, server)
    new_conversation(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    limit = int(page.get_attribute("#composer-input", "maxlength"))
    page.fill("#composer-input", "a" * 100)
    assert page.is_hidden("#composer-counter")  # far from the limit: no counter

    page.evaluate("n => navigator.clipboard.writeText('b'.repeat(n))", limit + 8000)
    page.focus("#composer-input")
    page.keyboard.press("Control+V")
    assert page.input_value("#composer-input") == "a" * 100  # nothing cut in silently
    error = page.text_content("#composer-error")
    assert "not added" in error and f"{limit:,}" in error

    page.evaluate("n => navigator.clipboard.writeText('c'.repeat(n))", limit - 200)
    page.keyboard.press("Control+V")  # fits: pasted whole
    assert len(page.input_value("#composer-input")) == limit - 100
    assert page.is_visible("#composer-counter")
    assert page.text_content("#composer-counter").startswith(f"{limit - 100:,} / {limit:,}")
    page.context.close()
