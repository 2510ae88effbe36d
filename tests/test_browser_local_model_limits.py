"""The real local model (SmolLM2, 2048-token context) in Chromium (issue 14.3, 14.4): its
length cut-off is shown as incomplete with Continue, which goes on in the same answer; a
message too long for it is refused before anything is sent, and the conversation goes on.
Slow (the model on a loaded machine): kept to one test."""

import pytest

from tests.browser_steps import ANSWER, ask, login, serving_local_model, wait_status

pytestmark = [pytest.mark.browser, pytest.mark.local_model, pytest.mark.timeout(300)]


def test_local_cut_off_continues_and_an_over_long_message_breaks_nothing(browser, tmp_path):
    with serving_local_model(tmp_path, max_output_tokens=16) as live:
        page = login(browser, live)
        ask(page, "Write a long story about a dragon who learns to bake bread.")
        wait_status(page, "incomplete", timeout=120_000)
        # The live frame says `incomplete` at once; why comes with the stored answer's frame.
        page.wait_for_function(
            "s => document.querySelector(s).textContent.includes('reached the length limit')",
            arg=f"{ANSWER} .error-slot",
            timeout=10_000,
        )
        before = page.text_content(f"{ANSWER} .items").strip()
        assert before
        page.click(f"{ANSWER} button.continue-button")
        page.wait_for_function(
            "([s, n]) => { const a = document.querySelector(s);"
            " return !a.className.includes('status-queued') && !a.className.includes('status-streaming')"
            " && a.querySelector('.items').textContent.trim().length > n; }",
            arg=[ANSWER, len(before)],
            timeout=120_000,
        )
        assert page.locator(".message.assistant").count() == 1  # the same answer went on
        assert page.text_content(f"{ANSWER} .items").strip().startswith(before[:20])

        ask(page, "tell me more " * 600)  # ~7,800 characters: more than 2048 tokens
        page.wait_for_function(
            "() => document.querySelector('#composer-error').textContent.includes('too long')"
        )
        assert page.locator(".message.user").count() == 1  # nothing stored, nothing sent
        ask(page, "Say hi.")
        page.wait_for_function(
            "s => document.querySelectorAll(s).length == 2", arg=".message.assistant"
        )
        page.wait_for_function(
            "s => /status-(completed|incomplete)/.test(document.querySelector(s).className)",
            arg=ANSWER,
            timeout=120_000,
        )
        assert page.text_content(f"{ANSWER} .items").strip()
        assert page.locator(f"{ANSWER}.status-failed").count() == 0
        page.context.close()
