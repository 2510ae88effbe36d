"""Usage in Chromium: a person's usage and budget page, the budget's warning and refusal in
the chat (every tab, after a reload), and the admin's report with its chart, links and CSV."""

import csv
import io
import os

import pytest

from tests import fake_upstream as fake
from tests.browser_steps import ask, login, new_conversation, serving, wait_status
from tests.live_server import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(module_upstream, tmp_path_factory):
    with serving(
        tmp_path_factory.mktemp("usage-live"),
        module_upstream,
        CHAT_MODEL="gpt-5-mini",
        CHAT_TURNS_PER_MINUTE="0",
    ) as live:
        live.manage(
            "shell", "-v0", "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.create_superuser('boss', password='{PASSWORD}')",
        )  # fmt: skip
        yield live


def set_budget(server, tokens: int) -> None:
    server.manage(
        "shell", "-v0", "-c",
        "from chat.models import Budget; from django.contrib.auth.models import User; "
        "Budget.objects.update_or_create(scope='user', user=User.objects.get(username='tester'), "
        f"defaults={{'monthly_tokens': {tokens}}})",
    )  # fmt: skip


def composer_error(page) -> str:
    return (page.text_content("#composer-error") or "").strip()


def test_a_person_sees_their_usage_and_budget_warning_and_refusal(browser, server, module_upstream):
    module_upstream.enqueue(fake.text_stream("Hello there friend", chunk=4, delay=0.01))
    page = login(browser, server)
    new_conversation(page)
    ask(page, "hello")
    wait_status(page, "completed")
    page.click("text=My usage")
    page.wait_for_url(f"{server.url}/usage/")
    row = page.locator("#usage-table tbody tr").first
    assert row.locator("th").text_content().strip() == "fake-model"
    cells = [c.strip() for c in row.locator("td").all_text_contents()]
    assert cells[0] == "1" and cells[5] == "13"  # one answer: 8 input + 5 output tokens
    assert "No budget applies to you." in page.text_content("#my-budgets")
    assert page.locator("svg.usage-chart rect.bar").count() == 1

    set_budget(server, 15)  # 13 of 15 used: past 80 %
    page.reload()
    assert "86 % used: 13 of 15 tokens of your budget this month." in page.text_content(
        "#my-budgets"
    )
    assert "Nearly used up." in page.text_content("#my-budgets")

    page.go_back()
    page.wait_for_selector("#composer-input")
    module_upstream.enqueue(fake.text_stream("Still here", chunk=4, delay=0.01))
    ask(page, "again")
    page.wait_for_function(
        "() => document.querySelector('#budget-notice').textContent.includes('86 %')"
    )
    wait_status(page, "completed")  # the notice stays after the answer (errors are cleared)
    notice = page.text_content("#budget-notice")
    assert "You have used 86 % of a monthly budget: 13 of 15 tokens" in notice
    sent = len(module_upstream.requests)

    second = page.context.new_page()  # another tab on the same conversation
    second.goto(page.url)
    second.wait_for_selector("#composer-input")
    for tab in (page, second):
        ask(tab, "one more")
        tab.wait_for_function(
            "() => document.querySelector('#composer-error').textContent.includes('budget reached')"
        )
        assert (
            "Monthly budget reached: 24 of 15 tokens of your budget this month."
            in composer_error(tab)
        )
        assert "Nothing was sent." in composer_error(tab)
    assert len(module_upstream.requests) == sent  # nothing went upstream
    page.reload()
    wait_status(page, "completed")
    assert page.locator(".message.user").count() == 2  # the refused ones were not stored
    page.goto(f"{server.url}/usage/")
    assert "New messages are refused until next month." in page.text_content("#my-budgets")
    if os.environ.get("USAGE_SCREENSHOTS"):
        page.screenshot(path=os.environ["USAGE_SCREENSHOTS"] + "/my-usage.png", full_page=True)
    page.context.close()


def test_the_admin_report_chart_links_and_csv(browser, server, module_upstream):
    module_upstream.enqueue(fake.text_stream("An answer for the admin", chunk=4, delay=0.01))
    server.manage("ask", "--user", "boss", "hi")  # a ledger row of its own, whatever ran before
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{server.url}/admin/chat/usagerecord/")
    page.click("text=Usage report")
    page.wait_for_selector("#usage-table")
    rows = page.locator("#usage-table tbody tr")
    labels = [rows.nth(i).locator("th").text_content().strip() for i in range(rows.count())]
    assert "boss" in labels
    total_cells = page.locator("#usage-table tfoot td").all_text_contents()
    requests, tokens = int(total_cells[0]), int(total_cells[5])
    assert requests >= 1 and tokens >= 14
    row_tokens = [int(rows.nth(i).locator("td").nth(5).text_content()) for i in range(rows.count())]
    assert sum(row_tokens) == tokens
    # The whole table fits a 1280 px window: no column cut off.
    right = page.eval_on_selector("#usage-table", "t => t.getBoundingClientRect().right")
    assert right <= 1280

    with page.expect_download() as download:
        page.click("#usage-csv")
    lines = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    shown = [[c.strip() for c in page.locator("#usage-table thead th").all_text_contents()]]
    for i in range(rows.count()):
        shown.append([c.strip() for c in rows.nth(i).locator("th, td").all_text_contents()])
    shown.append(
        [
            c.strip()
            for c in page.locator(
                "#usage-table tfoot th, #usage-table tfoot td"
            ).all_text_contents()
        ]
    )
    assert lines == shown

    page.select_option("#id_group_by", "day")
    page.click("#usage-form button[type=submit]")
    page.wait_for_url("**group_by=day**")
    assert (
        page.locator("svg.usage-chart a rect.bar").count()
        == page.locator("#usage-table tbody tr").count()
    )
    if os.environ.get("USAGE_SCREENSHOTS"):
        page.screenshot(path=os.environ["USAGE_SCREENSHOTS"] + "/admin-report.png", full_page=True)
    page.click("#usage-table tfoot td >> nth=0 >> a")  # the total's requests: its ledger rows
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == requests
    # The ledger list shows every column within a 1280 px window: none hidden past its box.
    right, box = page.eval_on_selector(
        "#result_list",
        "t => [t.getBoundingClientRect().right, t.parentElement.getBoundingClientRect().right]",
    )
    if os.environ.get("USAGE_SCREENSHOTS"):
        page.screenshot(path=os.environ["USAGE_SCREENSHOTS"] + "/ledger.png", full_page=True)
    assert right <= box <= 1280
    context.close()
