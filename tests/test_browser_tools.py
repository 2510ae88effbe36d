"""A tool round in Chromium: a person watches the reasoning summary, the tool call and its
result stream in two tabs, reloads one in the middle of round 2, and sees it all once."""

import pytest

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
from tests.fake_streams import outputs_of, tool_call_stream

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]
COUNT = "".join(f"{i:03d} " for i in range(150))


@pytest.fixture(scope="module")
def server(module_upstream, tmp_path_factory):
    with serving(
        tmp_path_factory.mktemp("live-tools"),
        module_upstream,
        CHAT_MODEL="gpt-5-mini",
        CHAT_TOOLS="chat.tools.calculator.TOOL,chat.tools.clock.TOOL",
    ) as live:
        yield live


def counting_answer(gate: fake.Gate) -> fake.Reply:
    """Round 2: quotes the tool's result, then counts; held at the gate after 10 deltas."""

    def build(body: dict) -> fake.Reply:
        text = f"It is {outputs_of(body)['calculator']}. {COUNT}"
        return fake.text_stream(text, delay=0.01, gate=gate, gate_after=10)

    return fake.respond(build)


def count(page, selector: str) -> int:
    return page.eval_on_selector_all(f"{ANSWER} {selector}", "els => els.length")


def text_of(page, selector: str) -> str:
    return page.eval_on_selector(f"{ANSWER} {selector}", "el => el.textContent")


def wait_for_text(page, selector: str, needle: str) -> None:
    page.wait_for_function(
        "([s, n]) => [...document.querySelectorAll(s)].some(e => e.textContent.includes(n))",
        arg=[f"{ANSWER} {selector}", needle],
        timeout=15_000,
    )


def test_a_tool_round_streams_live_and_survives_a_reload_once(browser, server, module_upstream):
    summary = "The person wants a product, so I will use the calculator for it."
    module_upstream.enqueue(
        tool_call_stream([("calculator", {"expression": "6 * 7"})], summary=summary, delay=0.03),
        counting_answer(gate := fake.Gate()),
    )
    page = login(browser, server)
    new_conversation(page)
    other = second_tab(page)  # a second tab watching the same conversation
    ask(page, "What is 6 times 7?")
    for tab in (page, other):
        wait_for_text(tab, ".item-reasoning .summary", "calculator for it")
        wait_for_text(tab, ".item-tool_call", "calculator")
        wait_for_text(tab, ".item-tool_output .tool-result", "42")
        wait_for_text(tab, ".answer-text", "It is 42. 000")
    assert count(page, ".badge-streaming") == 1  # held in the middle of round 2
    page.reload()
    wait_for_text(page, ".answer-text", "It is 42. 000")
    gate.open()
    wait_status(page, "completed")
    wait_status(other, "completed")
    for tab in (page, other):
        assert count(tab, ".item-reasoning") == 1 and count(tab, ".item-tool_call") == 1
        assert count(tab, ".item-tool_output") == 1 and count(tab, ".answer-text") == 1
        assert summary in text_of(tab, ".item-reasoning .summary")
        assert '"6 * 7"' in text_of(tab, ".item-tool_call .arguments")
        assert text_of(tab, ".item-tool_output .tool-result").strip() == "42"
        assert answer_text(tab).strip() == f"It is 42. {COUNT}".strip()
    other.reload()  # and as stored
    wait_status(other, "completed")
    assert count(other, ".item-tool_output") == 1
    assert summary in text_of(other, ".item-reasoning .summary")
    sent = module_upstream.posted()
    assert sent[0]["reasoning"] == {"summary": "auto"}
    assert [t["name"] for t in sent[0]["tools"]] == ["calculator", "current_time"]
    page.context.close()
