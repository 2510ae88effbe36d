"""History's conversation-level events across two server processes (PostgreSQL + Redis):
a rename or a delete made through one process shows in a tab served by the other."""

import pytest

from tests.relay_client import TabText
from tests.test_multiprocess import (  # noqa: F401  (fixtures)
    Browser,
    database,  # noqa: F811
    frames_until,
    pair,
    services_up,
    upstream,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


async def post(browser: Browser, server, path: str, data: dict) -> int:
    token = next(c.value for c in browser.session.cookie_jar if c.key == "csrftoken")
    headers = {"X-CSRFToken": token, "Origin": server.url, "Referer": server.url + "/"}
    async with browser.session.post(f"{server.url}{path}", data=data, headers=headers) as done:
        await done.read()
        return done.status


async def test_rename_and_delete_on_one_process_reach_a_tab_on_the_other(
    tmp_path,
    database,  # noqa: F811
    upstream,  # noqa: F811
):
    one, two = pair(tmp_path, database, upstream)
    browser = await Browser.login(one)
    try:
        tab = TabText()
        ws = await browser.socket(two)
        cid = browser.conversation
        status = await post(browser, one, f"/history/c/{cid}/rename/", {"title": "Across <procs>"})
        assert status == 200
        seen = await frames_until(ws, 'id="conversation-title"', tab)
        assert "Across &lt;procs&gt;" in seen[-1]
        assert await post(browser, one, f"/history/c/{cid}/delete/", {}) == 204
        seen = await frames_until(ws, 'id="deleted-note"', tab)
        assert "This conversation was deleted." in seen[-1]
        await ws.close()
    finally:
        await browser.close()
        one.stop()
        two.stop()
