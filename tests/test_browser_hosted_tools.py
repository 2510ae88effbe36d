"""Hosted tools in Chromium, as a person watches them: a human label while each runs, then
its result, in every tab watching, and the same once after a reload."""

import pytest

from tests import browser_steps as steps
from tests import fake_upstream as fake
from tests import hosted_streams as synth
from tests.browser_steps import (
    ANSWER,
    WATCH_CSP,
    ask,
    new_conversation,
    second_tab,
    serving,
    violations,
)
from tests.live_server import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server(module_upstream, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    with serving(
        tmp,
        module_upstream,
        CHAT_FLUSH_INTERVAL_MS="30",
        MEDIA_ROOT=str(tmp / "media"),
        CHAT_HOSTED_TOOLS="web_search,code_interpreter,image_generation",
    ) as live:
        live.manage(
            "shell", "-v0", "-c",
            f"from django.contrib.auth.models import User; User.objects.create_user('stranger', password='{PASSWORD}')",
        )  # fmt: skip
        yield live


def login(browser, server, username: str = "tester"):
    return steps.login(browser, server, username, init_script=WATCH_CSP)


def wait_status(page, status: str, timeout: float = 20_000):
    steps.wait_status(page, status, timeout)


def labels(page, tool: str) -> list[str]:
    return page.locator(f"{ANSWER} .tool-{tool} .tool-label").all_text_contents()


def test_web_search_is_labelled_live_in_two_tabs_then_shows_sources_once(
    browser, server, module_upstream
):
    module_upstream.enqueue(fake.jsonl_file("gpt5_nano_web_search.jsonl", delay=0.06))
    first = login(browser, server)
    new_conversation(first)
    second = second_tab(first)
    ask(first, "What is on in Berlin today?")
    for tab in (first, second):
        tab.wait_for_selector(
            f"{ANSWER} .tool-web_search_call.running .tool-label:text('Searching the web…')"
        )
    for tab in (first, second):
        wait_status(tab, "completed")
    first.reload()
    wait_status(first, "completed")
    for tab in (first, second):
        assert labels(tab, "web_search_call") == ["Searched the web"] * 4
        links = tab.locator(f"{ANSWER} .sources a").evaluate_all("els => els.map(e => e.href)")
        assert links and all(link.startswith(("https://", "http://")) for link in links)
        assert tab.locator(f"{ANSWER} .tool-detail").count() >= 1  # the queries
        assert violations(tab) == []
    first.context.close()


def test_an_image_previews_while_drawn_then_is_stored_and_shown_only_to_who_may_see_it(
    browser, server, module_upstream
):
    module_upstream.enqueue(fake.events(synth.image_generation(), delay=0.5))
    first = login(browser, server)
    new_conversation(first)
    second = second_tab(first)
    ask(first, "Draw a dot")
    for tab in (first, second):
        tab.wait_for_selector(
            f"{ANSWER} .tool-image_generation_call:has(.tool-label:text('Drawing an image…'))"
            " .generated-image.preview img[src^='data:image/png']"
        )
    for tab in (first, second):
        wait_status(tab, "completed")
    first.reload()
    wait_status(first, "completed")
    sources = set()
    for tab in (first, second):
        img = tab.locator(f"{ANSWER} .generated-image img")
        assert img.count() == 1
        tab.wait_for_function(
            f'() => document.querySelector("{ANSWER} .generated-image img").naturalWidth === 1'
        )
        sources.add(img.get_attribute("src"))
        assert labels(tab, "image_generation_call") == ["Generated an image"]
        assert violations(tab) == []
    (src,) = sources
    assert src.startswith("/images/")
    stranger = login(browser, server, "stranger")
    assert stranger.goto(f"{server.url}{src}").status == 404
    stranger.context.close()
    first.context.close()


KINDS = [  # (stream, item type, label while it runs, label when done, a piece of its result)
    (synth.code_interpreter, "code_interpreter_call", "Running code…", "Ran code", "45"),
    (synth.file_search, "file_search_call", "Searching files…", "Searched files", "policy.pdf"),
    (synth.mcp_call, "mcp_call", "Calling a tool…", "Called a tool", "htmx gives <i>HTML</i>"),
    (synth.shell_call, "shell_call", "Running a command…", "Ran a command", "$ ls -la /tmp"),
]


def test_code_files_mcp_and_shell_each_run_labelled_then_show_results_after_reload(
    browser, server, module_upstream
):
    page = login(browser, server)
    new_conversation(page)
    for stream, tool, running, done, result in KINDS:
        module_upstream.enqueue(fake.events(stream(), delay=0.3))
        ask(page, f"Use {tool}")
        page.wait_for_selector(f"{ANSWER} .tool-{tool}.running .tool-label:text('{running}')")
        wait_status(page, "completed")
        assert labels(page, tool) == [done]
        assert result in page.text_content(f"{ANSWER} .tool-{tool}")
    module_upstream.enqueue(fake.events(synth.refusal(), delay=0.05))
    ask(page, "Something I should not")
    page.wait_for_selector(f"{ANSWER} .refusal")
    wait_status(page, "completed")
    assert page.text_content(f"{ANSWER} .refusal") == "I can't help with that."
    page.reload()
    wait_status(page, "completed")
    for _, tool, _, done, result in KINDS:
        items = page.locator(f".tool-{tool}")
        assert items.count() == 1
        assert done in items.text_content() and result in items.text_content()
    assert page.locator(".refusal").count() == 1
    assert page.locator(".tool-shell_call .tool-output").text_content() == "total 0\n<b>x</b>\n"
    assert page.evaluate("() => window.__pwned") is None
    assert violations(page) == []
    page.context.close()


def ledger_rows(server, message_id: int) -> int:
    out = server.manage(
        "shell", "-v0", "-c",
        f"from chat.models import UsageRecord; print(UsageRecord.objects.filter(message_id={message_id}).count())",
    )  # fmt: skip
    return int(out.strip())


@pytest.mark.parametrize("choice", ["approve", "deny"])
def test_an_mcp_approval_answer_starts_the_next_round_of_the_same_answer(
    browser, server, module_upstream, choice
):
    after = synth.mcp_call() if choice == "approve" else synth.refusal()
    module_upstream.enqueue(fake.events(synth.mcp_approval_request(), delay=0.02))
    module_upstream.enqueue(fake.events(after, delay=0.1))
    first = login(browser, server)
    new_conversation(first)
    second = second_tab(first)
    ask(first, "Ask the wiki")
    for tab in (first, second):
        tab.wait_for_selector(f"{ANSWER} .approval-form button.{choice}")
        assert "deepwiki" in tab.text_content(f"{ANSWER} .approval")
    answer_id = first.get_attribute(ANSWER, "id")
    first.click(f"{ANSWER} .approval-form button.{choice}")
    shown = "Approved" if choice == "approve" else "Denied"
    result = "htmx gives <i>HTML</i>" if choice == "approve" else "I can't help with that."
    for tab in (first, second):
        tab.wait_for_selector(f"{ANSWER} .approval-answer:text('{shown}')")
        tab.wait_for_function(
            "([sel, text]) => (document.querySelector(sel)?.textContent || '').includes(text)",
            arg=[f"#{answer_id}", result],
        )
        wait_status(tab, "completed")
    sent = module_upstream.requests[-1]["json"]["input"]
    assert sent[-1] == {
        "type": "mcp_approval_response", "approval_request_id": "mcpr_1",
        "approve": choice == "approve",
    }  # fmt: skip
    assert sent[-2]["type"] == "mcp_approval_request" and sent[-2]["id"] == "mcpr_1"
    assert sent[0] == {"role": "user", "content": "Ask the wiki"}
    first.reload()
    wait_status(first, "completed")
    for tab in (first, second):
        assert tab.locator(".message.assistant").count() == 1  # the same answer went on
        assert tab.locator(".approval-form").count() == 0  # answered: no buttons any more
        assert result in tab.text_content(ANSWER)
        assert violations(tab) == []
    assert ledger_rows(server, int(answer_id[1:])) == 2  # one row per round, none twice
    first.context.close()


def test_the_owner_switches_a_hosted_tool_off_for_a_conversation(browser, server, module_upstream):
    page = login(browser, server)
    new_conversation(page)
    page.click("#tools-choice summary")
    boxes = page.locator("#tools-choice input[type=checkbox]")
    assert boxes.count() == 3 and all(boxes.nth(i).is_checked() for i in range(3))
    page.get_by_label("Code interpreter").uncheck()
    page.click("#tools-choice button[type=submit]")
    page.wait_for_load_state()
    page.click("#tools-choice summary")
    assert not page.get_by_label("Code interpreter").is_checked()
    assert page.get_by_label("Web search").is_checked()
    module_upstream.enqueue(fake.text_stream("Fine.", delay=0.01))
    ask(page, "Which tools do you have?")
    wait_status(page, "completed")
    sent = module_upstream.requests[-1]["json"]
    hosted = [t["type"] for t in sent["tools"] if t["type"] != "function"]  # ours go first
    assert hosted == ["web_search", "image_generation"]
    page.reload()
    page.click("#tools-choice summary")
    assert not page.get_by_label("Code interpreter").is_checked()
    assert violations(page) == []
    page.context.close()
