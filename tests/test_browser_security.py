"""In Chromium: the chat works under the Content-Security-Policy with no violation, an image in
an answer is a link that is never fetched, and a page on another port cannot use the socket."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import (
    ANSWER,
    WATCH_CSP,
    ask,
    login,
    new_conversation,
    second_tab,
    violations,
    wait_status,
    watched_page,
)
from tests.live_server import free_port

# The main browser tests' fixtures: Chromium, the fake upstream and the live server.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_send_stream_and_stop_under_the_csp_without_a_violation(browser, server, module_upstream):
    page, problems = watched_page(browser, server)
    new_conversation(page)
    response = page.reload()
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]

    module_upstream.enqueue(fake.text_stream("Hello **world**.", chunk=3, delay=0.01))
    ask(page, "Greet me")
    wait_status(page, "completed")
    assert page.locator(f"{ANSWER} strong").text_content() == "world"

    module_upstream.enqueue(fake.text_stream("stop me " * 300, chunk=4, delay=0.02))
    ask(page, "Go on")
    page.wait_for_function(
        f"() => (document.querySelector('{ANSWER} .answer-text')?.textContent || '').length > 40"
    )
    page.click("#stop-button")
    wait_status(page, "cancelled")
    assert violations(page) == [] and problems == []
    page.reload()
    wait_status(page, "cancelled")
    assert violations(page) == [] and problems == []
    page.context.close()


def test_an_image_in_an_answer_is_a_link_that_is_never_fetched(browser, server, module_upstream):
    pixel = f"{module_upstream.base_url}/pixel.png?secret=conversation-text"
    module_upstream.enqueue(fake.text_stream(f"Here: ![a chart]({pixel}) done.", delay=0.01))
    page, problems = watched_page(browser, server)
    new_conversation(page)
    watcher = second_tab(page)
    ask(page, "Draw")
    for tab in (page, watcher):
        wait_status(tab, "completed")
        link = tab.locator(f"{ANSWER} a.image-link")
        assert link.get_attribute("href") == pixel and link.text_content() == "Image: a chart"
        assert tab.locator(f"{ANSWER} img").count() == 0
    page.reload()
    wait_status(page, "completed")
    assert page.locator(f"{ANSWER} a.image-link").count() == 1
    assert not [r for r in module_upstream.requests if "pixel" in r["path"]]
    assert violations(page) == [] and problems == []
    page.context.close()


def test_a_page_on_another_port_of_the_same_host_cannot_use_the_socket(browser, server):
    page = login(browser, server)
    conversation_url = page.url
    socket_url = conversation_url.replace("http://", "ws://").replace("/c/", "/ws/conversations/")
    attacker, httpd = _serve_once(
        "<!doctype html><title>waiting</title><script>"
        f"const ws = new WebSocket({socket_url!r});"
        "ws.onopen = () => { document.title = 'open';"
        "  ws.send(JSON.stringify({action: 'send', message: 'sent by another site'})); };"
        "ws.onclose = e => { if (document.title !== 'open') document.title = 'refused'; };"
        "</script>"
    )
    evil = page.context.new_page()  # same browser profile: the session cookie would go along
    evil.goto(attacker)
    evil.wait_for_function("() => document.title !== 'waiting'")
    assert evil.title() == "refused"
    page.reload()
    assert "sent by another site" not in page.content()
    page.context.close()
    httpd.shutdown()


def test_repeated_wrong_passwords_show_the_lockout_message(browser, server):
    server.manage(
        "shell",
        "-v0",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('victim', password='right-password-123')",
    )
    context = browser.new_context()
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.goto(f"{server.url}/accounts/login/")
    for password in ["guess"] * 5 + ["right-password-123"]:  # LOGIN_FAILURE_LIMIT is 5
        page.fill("#id_username", "victim")
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
    message = page.locator("#locked-out")
    assert message.is_visible() and "blocked for 15 minutes" in message.text_content()
    assert page.url.endswith("/accounts/login/")  # the right password did not get in
    assert page.locator("#id_password").is_visible()
    assert violations(page) == []  # the login page lives under the same CSP
    page.context.close()


def _serve_once(html: str) -> tuple[str, ThreadingHTTPServer]:
    """A page on another port of 127.0.0.1, as any other local service could serve."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}/", httpd
