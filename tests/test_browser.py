"""The chat page in Debian's Chromium, driven by Playwright, against a real daphne server."""

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import (
    ANSWER,
    answer_text,
    ask,
    login,
    new_conversation,
    second_tab,
    serving_local_model,
    wait_status,
)

pytestmark = pytest.mark.browser


def test_text_grows_on_screen_while_streaming(browser, server, module_upstream):
    module_upstream.enqueue(
        fake.text_stream("".join(f"w{i} " for i in range(150)), chunk=4, delay=0.02)
    )
    page = login(browser, server)
    new_conversation(page)
    ask(page, "Count for me")
    page.wait_for_selector(f"{ANSWER} .answer-text")
    lengths = []
    for minimum in (20, 120, 300):
        page.wait_for_function(
            f"n => (document.querySelector('{ANSWER} .answer-text')?.textContent || '').length >= n",
            arg=minimum,
        )
        lengths.append(len(answer_text(page)))
    wait_status(page, "completed")
    final = answer_text(page).strip()
    assert lengths == sorted(lengths) and len(set(lengths)) == 3
    assert final == "".join(f"w{i} " for i in range(150)).strip()
    assert page.locator(".message.user").last.text_content().strip() == "Count for me"
    page.context.close()


def test_stop_keeps_the_partial_answer(browser, server, module_upstream):
    module_upstream.enqueue(fake.text_stream("stop me " * 300, chunk=4, delay=0.02))
    page = login(browser, server)
    new_conversation(page)
    ask(page, "Go on")
    page.wait_for_function(
        f"() => (document.querySelector('{ANSWER} .answer-text')?.textContent || '').length > 40"
    )
    page.click("#stop-button")
    wait_status(page, "cancelled")
    shown = answer_text(page).strip()
    assert 40 <= len(shown) < len("stop me " * 300)
    assert "Stopped" in page.text_content(f"{ANSWER} .badge")
    page.reload()
    wait_status(page, "cancelled")
    assert answer_text(page).strip() == shown
    page.context.close()


def test_reload_mid_stream_ends_with_the_whole_answer_once(browser, server, module_upstream):
    text = "".join(f"{i:03d} " for i in range(250))
    module_upstream.enqueue(fake.text_stream(text, chunk=4, delay=0.01))
    page = login(browser, server)
    new_conversation(page)
    ask(page, "Count")
    page.wait_for_function(
        f"() => (document.querySelector('{ANSWER} .answer-text')?.textContent || '').includes('020')"
    )
    page.reload()
    page.wait_for_selector(f"{ANSWER} .answer-text")
    wait_status(page, "completed")
    assert answer_text(page).strip() == text.strip()
    page.context.close()


def test_two_tabs_agree(browser, server, module_upstream):
    text = "".join(f"t{i} " for i in range(200))
    module_upstream.enqueue(fake.text_stream(text, chunk=3, delay=0.01))
    first = login(browser, server)
    new_conversation(first)
    second = second_tab(first)
    ask(first, "Both of you")
    second.wait_for_selector(f"{ANSWER} .badge-streaming", timeout=10_000)
    wait_status(first, "completed")
    wait_status(second, "completed")
    assert answer_text(first).strip() == answer_text(second).strip() == text.strip()
    first.context.close()


def test_hostile_model_output_stays_inert(browser, server, module_upstream):
    hostile = (
        '<script>window.__pwned = 1</script> <img src=x onerror="window.__pwned = 2"> '
        '[click](javascript:window.__pwned=3) <a href="javascript:window.__pwned=4">raw</a> **bold**'
    )
    module_upstream.enqueue(fake.text_stream(hostile, chunk=5, delay=0.01))
    page = login(browser, server)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    new_conversation(page)
    ask(page, "Be evil")
    wait_status(page, "completed")
    answer = page.locator(ANSWER)
    assert answer.locator("script").count() == 0
    assert answer.locator("img").count() == 0
    assert answer.locator("a[href^='javascript']").count() == 0
    assert answer.locator("strong").text_content() == "bold"  # markdown still works
    assert "<script>" in answer_text(page)  # shown as text
    page.click(f"{ANSWER} .answer-text")
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    page.context.close()


def test_keyboard_only_use_and_polite_announcement(browser, server, module_upstream):
    module_upstream.enqueue(fake.text_stream("Announced answer.", delay=0.01))
    page = login(browser, server)
    new_conversation(page)
    assert page.evaluate("() => document.activeElement.id") == "composer-input"  # autofocus
    # The skip link still comes first in the tab order (the box has focus on load now).
    tab_order_first = "() => document.querySelector('a[href], button, textarea, input, summary')"
    assert page.evaluate(f"({tab_order_first})().className") == "skip-link"
    page.focus("#composer-input")
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    assert page.input_value("#composer-input") == "line one\nline two"
    page.keyboard.press("Enter")
    wait_status(page, "completed")
    assert page.locator(".message.user").last.text_content().strip() == "line one\nline two"
    page.wait_for_function(
        "() => document.getElementById('sr-announcer').textContent.includes('completed')"
    )
    announced = page.text_content("#sr-announcer")
    assert "Announced answer." in announced
    assert page.get_attribute("#sr-announcer", "aria-live") == "polite"
    assert (
        page.evaluate("() => document.activeElement.id") == "composer-input"
    )  # ready for the next one
    page.context.close()


@pytest.mark.local_model
def test_chat_with_the_real_local_model(browser, tmp_path):
    with serving_local_model(tmp_path, max_output_tokens=48) as live:
        page = login(browser, live)
        assert "small local model" in page.text_content(".model-note")
        ask(page, "Say hello in one short sentence.")
        # Completed, or incomplete if it used all 48 tokens (llama.cpp says completed then).
        page.wait_for_selector(
            f"{ANSWER}.status-completed, {ANSWER}.status-incomplete", timeout=60_000
        )
        assert answer_text(page).strip()
        assert "out" in page.text_content(f"{ANSWER} .message-footer")
        page.context.close()
