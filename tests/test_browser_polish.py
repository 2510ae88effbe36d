"""In Chromium: the page's polish (issue 14.6) and the small things fixed on the way (14.7)."""

import re

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import (
    ANSWER,
    ask,
    login,
    new_conversation,
    violations,
    wait_status,
    watched_page,
)
from tests.live_server import PASSWORD, LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
CODE = 'def greet(name):\n    return "<b>" + name\n'


def shell(live, code: str) -> str:
    return live.manage("shell", "-v0", "-c", code).strip().splitlines()[-1]


def clipboard(page) -> str:
    return page.evaluate("() => navigator.clipboard.readText()")


def test_code_is_highlighted_and_code_and_answers_can_be_copied(browser, server, module_upstream):
    module_upstream.enqueue(fake.text_stream(f"Here:\n\n```python\n{CODE}```\n", delay=0.01))
    page, problems = watched_page(browser, server)  # records CSP violations
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    new_conversation(page)
    watcher = page.context.new_page()
    watcher.goto(page.url)
    ask(page, "Code please")
    for tab in (page, watcher):
        wait_status(tab, "completed")
        keyword = tab.locator(f"{ANSWER} pre.highlight span.k").first
        assert keyword.text_content() == "def"
        # The stylesheet colours the token classes (no inline style: the CSP forbids them).
        colour = keyword.evaluate("el => getComputedStyle(el).color")
        plain = tab.eval_on_selector(f"{ANSWER} .answer-text", "el => getComputedStyle(el).color")
        assert colour != plain
        assert tab.locator(f"{ANSWER} [style]").count() == 0
        assert "<b>" in tab.text_content(f"{ANSWER} pre code")  # still escaped text

    page.click(f"{ANSWER} .copy-code")
    page.wait_for_function(
        f"() => document.querySelector('{ANSWER} .copy-code').textContent === 'Copied'"
    )
    assert clipboard(page) == CODE
    page.click(f"{ANSWER} .copy-answer")
    page.wait_for_function(
        f"() => document.querySelector('{ANSWER} .copy-answer').textContent === 'Copied'"
    )
    copied = clipboard(page)
    assert copied.startswith("Here:") and CODE.strip() in copied and "Copy" not in copied

    page.reload()
    wait_status(page, "completed")
    assert page.locator(f"{ANSWER} pre.highlight .copy-code").count() == 1
    assert page.locator(f"{ANSWER} .copy-answer").count() == 1
    assert violations(page) == [] and problems == []
    page.context.close()


def test_the_title_appears_live_in_header_sidebar_and_tab_everywhere(browser, tmp_path):
    with fake.FakeUpstream() as upstream:
        live = LiveServer(
            tmp_path,
            {"OPENAI_BASE_URL": upstream.base_url, "OPENAI_API_KEY": "k", "CHAT_AUTO_TITLES": "1"},
        ).start()
        try:
            page = login(browser, live)
            new_conversation(page)
            other = page.context.new_page()
            other.goto(page.url)
            conversation_id = re.search(r"/c/(\d+)/", page.url).group(1)
            assert page.title().startswith("New conversation")
            upstream.enqueue(fake.text_stream("Boil it for six minutes.", delay=0.01))
            upstream.enqueue(fake.text_stream("Soft-Boiled Eggs", delay=0.01))  # the title request
            ask(page, "How long for a soft egg?")
            for tab in (page, other):
                tab.wait_for_function(
                    "() => document.getElementById('conversation-title').textContent === 'Soft-Boiled Eggs'"
                )
                tab.wait_for_function("() => document.title === 'Soft-Boiled Eggs · Chat'")
                assert tab.text_content(f"#conv-{conversation_id}-name") == "Soft-Boiled Eggs"
            page.reload()
            assert page.title() == "Soft-Boiled Eggs · Chat"
            page.context.close()
        finally:
            live.stop()


def test_error_pages_are_styled_and_lead_back(browser, server):
    other_id = shell(
        server,
        "from django.contrib.auth.models import User; from chat.models import Conversation; "
        "u, _ = User.objects.get_or_create(username='stranger'); "
        "print(Conversation.objects.create(owner=u, title='Private').pk)",
    )
    page = login(browser, server)
    home = page.url
    response = page.goto(f"{server.url}/c/{other_id}/")
    assert response.status == 404
    assert page.text_content(".error-code").strip() == "404"
    assert "Private" not in page.content()
    page.click("text=Back to your conversations")
    page.wait_for_url(home)

    # A form posted without its CSRF token: Django's failure view, with our template.
    page.context.clear_cookies(name="csrftoken")
    page.click("button.new-conversation")
    page.wait_for_selector(".error-page")
    assert "The form expired" in page.text_content("h1")
    assert page.locator("link[rel=icon]").count() == 1
    page.context.close()


def test_favicon_is_served_and_linked(browser, server):
    page = login(browser, server)
    href = page.get_attribute("link[rel=icon]", "href")
    response = page.request.get(f"{server.url}{href}")
    assert response.status == 200 and "svg" in response.headers["content-type"]
    assert response.text().startswith("<svg")
    page.context.close()


def test_narrow_screen_folds_the_conversation_list_behind_a_menu_button(
    browser, server, module_upstream
):
    page = login(browser, server, viewport={"width": 390, "height": 844})
    assert page.is_hidden("button.new-conversation")
    menu = page.locator("#sidebar-toggle > summary")
    assert menu.is_visible()
    box = page.locator("#composer-input").bounding_box()
    assert box["y"] + box["height"] <= 844  # the message box is on screen, not pushed down
    module_upstream.enqueue(fake.text_stream("ok", delay=0.01))
    ask(page, "x" * 2000)  # one long word, as a title too: it wraps, the page never widens
    wait_status(page, "completed")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    # Send comes back (in place of Stop) as the composer settles after the answer's end.
    page.wait_for_selector("#send-button", state="visible")
    send = page.locator("#send-button").bounding_box()
    assert send["x"] + send["width"] <= 390
    menu.click()
    assert page.is_visible("button.new-conversation")
    menu.click()
    assert page.is_hidden("button.new-conversation")
    page.context.close()

    wide = login(browser, server)  # a desktop window shows the list without a click
    assert wide.is_visible("button.new-conversation")
    wide.context.close()


def test_turns_log_no_htmx_error_and_the_sender_sees_the_typing_cursor(
    browser, server, module_upstream
):
    page = login(browser, server)
    logged: list[str] = []
    page.on("console", lambda m: logged.append(m.text))
    new_conversation(page)
    for n in range(2):
        module_upstream.enqueue(fake.text_stream("slow words " * 40, chunk=3, delay=0.02))
        ask(page, f"turn {n}")
        # The sending tab's message follows its badge (the cursor is drawn for status-streaming).
        page.wait_for_selector(f"{ANSWER}.status-streaming .answer-text.streaming", timeout=10_000)
        cursor = page.eval_on_selector(
            f"{ANSWER} .answer-text.streaming", "el => getComputedStyle(el, '::after').content"
        )
        assert "▍" in cursor
        wait_status(page, "completed")
    assert page.is_hidden("#empty-note")
    assert not [m for m in logged if "oobErrorNoTarget" in m or "htmx:" in m], logged
    page.context.close()


def test_stop_before_any_text_says_so_without_a_stray_dot(browser, server, module_upstream):
    module_upstream.enqueue(fake.text_stream("late text", chunk=2, delay=1.0))
    page = login(browser, server)
    new_conversation(page)
    ask(page, "Wait")
    page.click("#stop-button")
    wait_status(page, "cancelled")
    for _ in range(2):
        notice = page.text_content(f"{ANSWER} .notice-box")
        assert "Stopped before any text was written." in notice
        assert "The text above" not in notice and "you stopped" not in notice
        assert not page.text_content(f"{ANSWER} .message-footer").strip().startswith("·")
        page.reload()
        wait_status(page, "cancelled")
    page.context.close()


def test_sharing_confirms_and_the_invite_date_reads_right(browser, server):
    token = shell(
        server,
        "from django.contrib.auth.models import User; from accounts.models import *; "
        "u = User.objects.get(username='tester'); t, _ = Team.objects.get_or_create(name='Birds'); "
        "Membership.objects.get_or_create(team=t, user=u); "
        "print(Invite.objects.create(team=t, created_by=u).token)",
    )
    page = login(browser, server)
    new_conversation(page)
    module = page.locator(".share-form select")
    module.select_option(label="Birds")
    page.click(".share-form button[type=submit]")
    page.wait_for_selector(".banner-notice")
    assert page.text_content(".banner-notice") == "Shared read-only with team Birds."
    page.reload()
    assert page.locator(".banner-notice").count() == 0  # said once
    page.select_option(".share-form select", label="Private")
    page.click(".share-form button[type=submit]")
    page.wait_for_selector(".banner-notice")
    assert page.text_content(".banner-notice") == "This conversation is private again."

    anonymous = browser.new_context().new_page()
    anonymous.goto(f"{server.url}/invite/{token}/")
    assert anonymous.title().startswith("Create your account"), anonymous.content()[:2000]
    hint = anonymous.text_content("main .hint")
    assert "until" in hint and ".." not in hint
    anonymous.context.close()
    page.context.close()


def test_long_user_messages_are_folded_with_a_way_to_unfold(browser, server, module_upstream):
    module_upstream.enqueue(fake.text_stream("Noted.", delay=0.01))
    page = login(browser, server)
    new_conversation(page)
    long_text = "\n".join(f"line {i} of a pasted log" for i in range(60))
    page.fill("#composer-input", long_text)
    page.press("#composer-input", "Enter")
    wait_status(page, "completed")
    for _ in range(2):  # live, then after a reload
        bubble = page.locator(".message.user .user-text").last
        folded = bubble.evaluate("el => [el.clientHeight, el.scrollHeight]")
        assert folded[0] < folded[1] / 2
        page.locator(".message.user .unfold").last.click()
        opened = bubble.evaluate("el => [el.clientHeight, el.scrollHeight]")
        assert opened[0] >= opened[1] - 1
        assert page.get_attribute(".message.user .unfold", "aria-expanded") == "true"
        assert bubble.text_content() == long_text  # folded on screen, never cut
        page.reload()
        wait_status(page, "completed")
    page.context.close()


def test_a_rename_logs_no_htmx_error_for_the_owner_or_a_team_viewer(browser, server):
    conversation_id = shell(
        server,
        "from django.contrib.auth.models import User; from accounts.models import *; "
        "from chat.models import Conversation, Message; "
        "o = User.objects.get(username='tester'); "
        f"m, _ = User.objects.get_or_create(username='teammate'); m.set_password('{PASSWORD}'); m.save(); "
        "t, _ = Team.objects.get_or_create(name='Owls'); "
        "Membership.objects.get_or_create(team=t, user=o); Membership.objects.get_or_create(team=t, user=m); "
        "c = Conversation.objects.create(owner=o, title='Before', shared_with=t); "
        "Message.objects.create(conversation=c, role='user', text='hi', status='completed'); print(c.pk)",
    )
    owner = login(browser, server)
    owner.goto(f"{server.url}/c/{conversation_id}/")
    viewer = browser.new_context().new_page()
    viewer.goto(f"{server.url}/accounts/login/")
    viewer.fill("#id_username", "teammate")
    viewer.fill("#id_password", PASSWORD)
    viewer.click("button[type=submit]")
    viewer.wait_for_url(f"{server.url}/c/*/")
    viewer.goto(f"{server.url}/c/{conversation_id}/")
    logged: list[str] = []
    for tab in (owner, viewer):
        tab.on("console", lambda m, t=tab: logged.append(f"{t.url} {m.text}"))
        tab.wait_for_function("() => document.querySelector('#chat')")
    owner.click(".rename-box summary")
    owner.fill("#rename-input", "After")
    owner.click("#rename-save")
    for tab in (owner, viewer):
        tab.wait_for_function("() => document.title === 'After · Chat'")
        assert tab.text_content("#conversation-title") == "After"
    assert viewer.text_content(f"#shared-{conversation_id}-name") == "After"
    assert owner.text_content(f"#conv-{conversation_id}-name") == "After"
    assert not [m for m in logged if "htmx:" in m], logged
    owner.context.close()
    viewer.context.close()
