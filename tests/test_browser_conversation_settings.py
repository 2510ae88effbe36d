"""Settings per conversation in Chromium (issue 14.1): chosen in the header, checked against
what the model supports, applied to the next request, recorded with each answer (its footer,
in every tab and after a reload), kept as a preset that new conversations start from."""

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import (
    ANSWER,
    ask,
    login,
    new_conversation,
    second_tab,
    serving,
    wait_status,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server(module_upstream, tmp_path_factory):
    with serving(
        tmp_path_factory.mktemp("live-settings"),
        module_upstream,
        CHAT_MODEL="gpt-4o-mini",
        CHAT_MODELS="gpt-4o-mini:128000:tools,gpt-5-mini:400000:reasoning+tools",
        CHAT_TOOLS="chat.tools.calculator.TOOL,chat.tools.clock.TOOL",
        CHAT_MAX_OUTPUT_TOKENS="0",
    ) as live:
        yield live


def save_settings(page, **values) -> None:
    if not page.is_visible("#settings-form"):
        page.click("#settings-panel > summary")
    for name, value in values.items():
        selector = f"#id_{name}"
        if name in ("model", "reasoning_effort"):
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("#settings-save")


def test_settings_apply_to_the_next_answer_and_stay_with_it(browser, server, module_upstream):
    page = login(browser, server)
    new_conversation(page)
    other = second_tab(page)
    save_settings(page, model="gpt-4o-mini", reasoning_effort="low")
    page.wait_for_selector("#settings-error-reasoning_effort")
    assert "does not reason" in page.text_content("#settings-error-reasoning_effort")
    page.uncheck("#settings-form input[value=current_time]")
    save_settings(page, reasoning_effort="", temperature="0.3", max_output_tokens="100",
                  instructions="Answer like a pirate.")  # fmt: skip
    page.wait_for_selector("#settings-note")
    assert "next answer" in page.text_content("#settings-note")
    module_upstream.enqueue(fake.text_stream("Arr, hello."))
    ask(page, "Hello")
    for tab in (page, other):
        wait_status(tab, "completed")
        footer = tab.text_content(f"{ANSWER} .message-footer")
        assert "temperature 0.3" in footer and "max 100 tokens" in footer
        assert tab.get_attribute(f"{ANSWER} .message-footer span[title='Answer like a pirate.']",
                                 "title")  # fmt: skip
    body = module_upstream.posted()[-1]
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.3
    assert body["instructions"] == "Answer like a pirate." and body["max_output_tokens"] == 100
    assert "reasoning" not in body and [t["name"] for t in body["tools"]] == ["calculator"]

    page.reload()  # the choices stay; then a reasoning model for the next answer
    page.click("#settings-panel > summary")
    assert page.input_value("#id_temperature") == "0.3"
    save_settings(page, model="gpt-5-mini")
    page.wait_for_selector("#settings-error-temperature")  # no temperature for a reasoning one
    save_settings(page, temperature="", reasoning_effort="high")
    page.wait_for_selector("#settings-note")
    module_upstream.enqueue(fake.text_stream("Thought about it."))
    ask(page, "Think")
    page.wait_for_function(
        "s => document.querySelectorAll(s).length == 2", arg=".message.assistant"
    )
    wait_status(page, "completed")
    body = module_upstream.posted()[-1]
    assert body["model"] == "gpt-5-mini" and body["reasoning"]["effort"] == "high"
    assert "temperature" not in body
    page.reload()
    wait_status(page, "completed")
    footers = page.locator(".message.assistant .message-footer").all_text_contents()
    assert "temperature 0.3" in footers[0] and "effort high" not in footers[0]
    assert "effort high" in footers[1] and "temperature" not in footers[1]
    page.context.close()


def test_a_default_preset_starts_new_conversations(browser, server, module_upstream):
    page = login(browser, server)
    new_conversation(page)
    save_settings(page, temperature="1.1", instructions="Be brief.")
    page.wait_for_selector("#settings-note")
    page.fill("#id_name", "Brief")
    page.check("#id_default")
    page.click("#preset-keep")
    page.wait_for_selector("#preset-note")
    assert "Brief" in page.text_content("#preset-note")
    module_upstream.enqueue(fake.text_stream("ok"))
    ask(page, "first")  # the conversation has a message: a new one is really new
    wait_status(page, "completed")
    new_conversation(page)
    page.click("#settings-panel > summary")
    assert page.input_value("#id_temperature") == "1.1"
    assert page.input_value("#id_instructions") == "Be brief."
    save_settings(page, temperature="0.5")
    page.wait_for_selector("#settings-note")
    page.select_option("#preset-choice", label="Brief (my default)")
    page.click("#preset-apply")
    page.wait_for_function(
        "() => document.querySelector('#settings-note')?.textContent.includes('Brief')"
    )
    assert page.input_value("#id_temperature") == "1.1"
    page.context.close()
