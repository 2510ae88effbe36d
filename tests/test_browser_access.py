"""In Chromium: a read-only team member never sees Stop or Retry (two tabs, and after a
reload), and a member whose access is withdrawn while watching is told so in the page."""

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import (
    ANSWER,
    answer_text,
    ask,
    conversation_of,
    login,
    new_conversation,
    wait_status,
)
from tests.live_server import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def share_with_a_member(live, conversation: int, username: str) -> None:
    live.manage(
        "shell", "-v0", "-c",
        "from django.contrib.auth.models import User; "
        "from accounts.models import Team, Membership; from chat.models import Conversation; "
        f"m, _ = User.objects.get_or_create(username='{username}'); m.set_password('{PASSWORD}'); "
        f"m.save(); t, _ = Team.objects.get_or_create(name='team-{username}'); "
        "Membership.objects.get_or_create(team=t, user=m); "
        "Membership.objects.get_or_create(team=t, user=User.objects.get(username='tester')); "
        f"Conversation.objects.filter(pk={conversation}).update(shared_with=t)",
    )  # fmt: skip


def test_a_viewer_never_sees_stop_or_retry(browser, server, module_upstream):
    text = "".join(f"v{i} " for i in range(200))
    module_upstream.enqueue(
        fake.text_stream("seed", delay=0),
        fake.text_stream(text, chunk=3, delay=0.015),
        fake.http_error(400, {"error": {"message": "bad", "type": "invalid_request_error"}}),
    )
    owner = login(browser, server)
    new_conversation(owner)
    ask(owner, "seed")  # the page has a conversation id once it has a message
    wait_status(owner, "completed")
    conversation = conversation_of(owner)
    share_with_a_member(server, conversation, "viewer")
    viewers = [login(browser, server, "viewer", lands_on="/**")]
    viewers[0].goto(f"{server.url}/c/{conversation}/")
    viewers.append(viewers[0].context.new_page())
    viewers[1].goto(f"{server.url}/c/{conversation}/")
    for page in viewers:
        page.wait_for_selector("#chat[hx-ext]")
    ask(owner, "second")
    owner.wait_for_selector("#stop-button", timeout=10_000)
    for page in viewers:
        page.wait_for_selector(f"{ANSWER} .badge-streaming", timeout=10_000)
        assert page.locator("#stop-button").count() == 0
    viewers[0].reload()  # attaching mid-stream: the snapshot has no Stop either
    viewers[0].wait_for_selector(f"{ANSWER} .answer-text")
    assert viewers[0].locator("#stop-button").count() == 0
    wait_status(owner, "completed")
    for page in viewers:
        wait_status(page, "completed")
        assert answer_text(page).strip() == text.strip()
    ask(owner, "third")
    wait_status(owner, "failed")
    for page in viewers:
        wait_status(page, "failed")
        assert page.locator("button", has_text="Retry").count() == 0
    assert owner.locator("button", has_text="Retry").count() == 1
    viewers[1].reload()
    wait_status(viewers[1], "failed")
    assert viewers[1].locator("button", has_text="Retry").count() == 0
    owner.context.close()
    viewers[0].context.close()


def test_a_member_whose_share_ends_is_told_and_stops_receiving(
    browser,
    server,
    module_upstream,
):
    text = "".join(f"r{i:03d} " for i in range(300))
    module_upstream.enqueue(
        fake.text_stream("seed", delay=0), fake.text_stream(text, chunk=4, delay=0.02)
    )
    owner = login(browser, server)
    new_conversation(owner)
    ask(owner, "seed")
    wait_status(owner, "completed")
    conversation = conversation_of(owner)
    share_with_a_member(server, conversation, "leaver")
    owner.reload()  # its share form now lists the team
    member = login(browser, server, "leaver", lands_on="/**")
    member.goto(f"{server.url}/c/{conversation}/")
    member.wait_for_selector("#chat[hx-ext]")
    ask(owner, "long one")
    member.wait_for_function(
        f"() => (document.querySelector('{ANSWER} .answer-text')?.textContent || '').includes('r010')"
    )
    owner.select_option("form.share-form select", "")  # the owner makes it private again
    owner.click("form.share-form button[type=submit]")
    owner.wait_for_load_state()
    member.wait_for_selector("#composer-error:has-text('no longer have access')", timeout=10_000)
    frozen = answer_text(member)
    wait_status(owner, "completed", timeout=30_000)
    assert answer_text(owner).strip() == text.strip()
    assert answer_text(member) == frozen and len(frozen.strip()) < len(text.strip())
    owner.context.close()
    member.context.close()


def test_stop_in_two_tabs_at_once_ends_the_answer_once(browser, server, module_upstream):
    """Both tabs press Stop together, five times: each time both show the same stopped text
    (never "Writing…" again), a reload shows it too, and the next message goes at once."""
    first = login(browser, server)
    new_conversation(first)
    module_upstream.enqueue(fake.text_stream("seed", delay=0))
    ask(first, "seed")
    wait_status(first, "completed")
    second = first.context.new_page()
    second.goto(first.url)
    second.wait_for_selector("#chat[hx-ext]")
    for attempt in range(5):
        module_upstream.enqueue(fake.text_stream("both " * 600, chunk=5, delay=0.01))
        ask(first, f"go {attempt}")
        for page in (first, second):
            page.wait_for_selector("#stop-button", timeout=10_000)
            page.wait_for_function(
                f"() => (document.querySelector('{ANSWER} .answer-text')?.textContent || '')"
                ".length > 20"
            )
        first.evaluate("document.getElementById('stop-button').click()")
        # The first Stop may already have removed this tab's button: then there is none to press.
        second.evaluate("document.getElementById('stop-button')?.click()")
        wait_status(first, "cancelled")
        wait_status(second, "cancelled")
        shown = answer_text(first).strip()
        assert shown == answer_text(second).strip() and 20 < len(shown) < len("both " * 600)
        assert first.locator("#stop-button").count() == second.locator("#stop-button").count() == 0
    second.reload()
    wait_status(second, "cancelled")
    assert answer_text(second).strip() == shown
    first.context.close()
