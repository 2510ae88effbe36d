"""Versions in Chromium: Regenerate, Edit and ‹ i/n › in two tabs and after a reload, and the
next turn's input following the branch on screen (what the fake upstream received)."""

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import ask, conversation_of, login, new_conversation

pytestmark = pytest.mark.browser


def answer_is(page, text: str, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "t => (document.querySelector('.message.assistant:last-of-type .answer-text')"
        "?.textContent || '').trim() === t && "
        "document.querySelector('#turn-controls')?.dataset.live === 'false'",
        arg=text,
        timeout=timeout,
    )


def position(page, role: str) -> str:
    bar = page.locator(f".branch-bar-{role}").last
    return (bar.locator(".branch-pos").text_content() or "").strip()


def inputs(request) -> list[tuple[str, str]]:
    return [(i["role"], i["content"]) for i in request["json"]["input"] if "role" in i]


def second_tab(page):
    """A second tab on the same conversation, once its socket is attached: the server's first
    frame (the latest answer as it stands) comes after the attach."""
    other = page.context.new_page()
    other.add_init_script(
        "document.addEventListener('htmx:wsAfterMessage', () => { window.attached = true; })"
    )
    other.goto(page.url)
    other.wait_for_function("() => window.attached === true")
    return other


def test_regenerate_and_switch_follow_in_two_tabs_and_after_a_reload(
    browser, server, module_upstream
):
    page = login(browser, server)
    new_conversation(page)
    module_upstream.enqueue(fake.text_stream("The first answer.", delay=0))
    ask(page, "Tell me something")
    answer_is(page, "The first answer.")
    other = second_tab(page)

    module_upstream.enqueue(fake.text_stream("The second answer.", delay=0))
    page.click(".branch-bar-assistant .regenerate")
    for tab in (page, other):
        answer_is(tab, "The second answer.")
        assert position(tab, "assistant") == "2/2"
        assert tab.locator(".message.user").count() == 1  # the question was not copied
        assert tab.locator(".message.assistant").count() == 1  # one version on screen

    other.click(".branch-prev")  # the other tab goes back to version 1: both follow
    for tab in (page, other):
        answer_is(tab, "The first answer.")
        assert position(tab, "assistant") == "1/2"
    page.reload()
    answer_is(page, "The first answer.")
    assert position(page, "assistant") == "1/2"

    module_upstream.enqueue(fake.text_stream("Next.", delay=0))
    ask(page, "And then?")
    answer_is(page, "Next.")
    answer_is(other, "Next.")
    assert inputs(module_upstream.requests[-1]) == [
        ("user", "Tell me something"),
        ("assistant", "The first answer."),
        ("user", "And then?"),
    ]
    page.context.close()


def test_edit_a_question_and_resend_keeps_the_old_version(browser, server, module_upstream):
    page = login(browser, server)
    new_conversation(page)
    module_upstream.enqueue(fake.text_stream("About cats.", delay=0))
    ask(page, "Tell me about cats")
    answer_is(page, "About cats.")

    module_upstream.enqueue(fake.text_stream("About dogs.", delay=0))
    page.click(".branch-bar-user .edit-box summary")
    page.fill(".branch-bar-user textarea", "Tell me about dogs")
    page.click(".branch-bar-user .edit-send")
    answer_is(page, "About dogs.")
    assert page.locator(".message.user").last.text_content().strip() == "Tell me about dogs"
    assert position(page, "user") == "2/2"
    assert inputs(module_upstream.requests[-1]) == [("user", "Tell me about dogs")]

    page.reload()
    answer_is(page, "About dogs.")
    page.click(".branch-bar-user .branch-prev")
    answer_is(page, "About cats.")
    assert page.locator(".message.user").last.text_content().strip() == "Tell me about cats"
    assert position(page, "user") == "1/2"
    page.context.close()


def test_a_viewer_follows_versions_without_controls_and_nothing_changes_under_a_live_answer(
    browser, server, module_upstream
):
    from tests.test_browser_access import share_with_a_member

    owner = login(browser, server)
    new_conversation(owner)
    module_upstream.enqueue(fake.text_stream("Version one.", delay=0))
    ask(owner, "Seed")
    answer_is(owner, "Version one.")
    module_upstream.enqueue(fake.text_stream("Version two.", delay=0))
    owner.click(".branch-bar-assistant .regenerate")
    answer_is(owner, "Version two.")
    conversation = conversation_of(owner)
    share_with_a_member(server, conversation, "branchviewer")
    viewer = login(browser, server, "branchviewer", lands_on="/**")
    viewer.add_init_script(
        "document.addEventListener('htmx:wsAfterMessage', () => { window.attached = true; })"
    )
    viewer.goto(f"{server.url}/c/{conversation}/")
    viewer.wait_for_function("() => window.attached === true")
    answer_is(viewer, "Version two.")
    assert position(viewer, "assistant") == "2/2"  # the position, without buttons to change it
    assert viewer.locator(".branch-bar form, .branch-bar details").count() == 0

    owner.click(".branch-prev")
    answer_is(viewer, "Version one.")
    assert position(viewer, "assistant") == "1/2"
    assert viewer.locator(".branch-bar form, .branch-bar details").count() == 0

    # While an answer is written, no tab offers a version change (the server refuses too);
    # the live answer keeps streaming and is saved, and the controls come back after it.
    module_upstream.enqueue(fake.text_stream("slow " * 150, chunk=4, delay=0.02))
    ask(owner, "Go on")
    owner.wait_for_selector("#stop-button")
    regenerate = owner.locator(".branch-bar-assistant .regenerate").first
    switch = owner.locator(".branch-next").first  # version 1 of 2 offers the next one
    assert not regenerate.is_visible() and not switch.is_visible()
    answer_is(owner, ("slow " * 150).strip(), timeout=30_000)
    assert regenerate.is_visible() and switch.is_visible()
    answer_is(viewer, ("slow " * 150).strip())
    viewer.reload()
    answer_is(viewer, ("slow " * 150).strip())
    first = viewer.locator(".branch-bar-assistant .branch-pos").first.text_content() or ""
    assert first.strip() == "1/2"  # the first answer's version is still the one shown
    owner.context.close()
    viewer.context.close()


def test_a_link_to_a_message_in_another_version_offers_to_show_it(browser, server, module_upstream):
    """A search hit can be in a version not shown: the page says so and switches to it."""
    page = login(browser, server)
    new_conversation(page)
    module_upstream.enqueue(fake.text_stream("Old answer.", delay=0))
    ask(page, "Something")
    answer_is(page, "Old answer.")
    old_id = page.locator(".message.assistant").last.get_attribute("id")[1:]
    module_upstream.enqueue(fake.text_stream("New answer.", delay=0))
    page.click(".branch-bar-assistant .regenerate")
    answer_is(page, "New answer.")
    page.goto(page.url.split("?")[0] + f"?at={old_id}")
    answer_is(page, "New answer.")
    assert "another version" in page.text_content("#other-version-note")
    page.click("#show-other-version")
    answer_is(page, "Old answer.")
    assert page.locator("#other-version-note").count() == 0
    assert position(page, "assistant") == "1/2"
    page.context.close()
