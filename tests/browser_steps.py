"""What a person does in Chromium, for the browser tests: log in, start a conversation, ask,
open a second tab, read and wait for the answer; and the live servers those pages talk to."""

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from tests.live_server import PASSWORD, LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ANSWER = ".message.assistant:last-of-type"
# Records the page's Content-Security-Policy violations in window.__csp.
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@contextlib.contextmanager
def serving(directory: Path, upstream, **env: str) -> Iterator[LiveServer]:
    """A live server on the fake upstream, with `env` over the defaults; stopped after."""
    live = LiveServer(
        directory, {"OPENAI_BASE_URL": upstream.base_url, "OPENAI_API_KEY": "k", **env}
    ).start()
    try:
        yield live
    finally:
        live.stop()


@contextlib.contextmanager
def serving_local_model(directory: Path, max_output_tokens: int) -> Iterator[LiveServer]:
    """A live server on the embedded local model (no upstream), loaded before it answers."""
    live = LiveServer(
        directory,
        {
            "OPENAI_BASE_URL": "",
            "OPENAI_API_KEY": "",
            "LOCAL_MODEL_PRELOAD": "1",
            "CHAT_MAX_OUTPUT_TOKENS": str(max_output_tokens),
        },
    ).start()
    try:
        yield live
    finally:
        live.stop()


def login(
    browser,
    server,
    username: str = "tester",
    *,
    lands_on: str = "/c/*/",
    init_script: str | None = None,
    **context_options,
):
    """A new browser context (its own cookies) logged in as `username`: the page it lands on."""
    context = browser.new_context(**context_options)
    if init_script is not None:
        context.add_init_script(init_script)
    page = context.new_page()
    page.goto(f"{server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}{lands_on}")
    return page


def new_conversation(page):
    page.click("button.new-conversation")
    page.wait_for_load_state()
    page.wait_for_function("() => !document.querySelector('.message')")


def second_tab(page):
    """Another tab of the same person on the same conversation, loaded."""
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_load_state()
    return other


def conversation_of(page) -> int:
    return int(re.search(r"/c/(\d+)/", page.url).group(1))


def ask(page, text: str):
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def answer_text(page) -> str:
    return page.eval_on_selector(f"{ANSWER} .answer-text", "el => el.textContent")


def wait_status(page, status: str, timeout: float = 15_000):
    page.wait_for_selector(f"{ANSWER}.status-{status}", timeout=timeout)


def watched_page(browser, server):
    """A logged-in tab that records CSP violations from every page it loads."""
    page = login(browser, server)
    page.context.add_init_script(WATCH_CSP)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.reload()
    return page, problems


def violations(page) -> list[str]:
    return page.evaluate("() => window.__csp")
