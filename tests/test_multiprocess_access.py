"""Access withdrawn in one server process closes the tab open on another (PostgreSQL + Redis):
the team member watching on process two (frames without Stop: a read-only viewer) is told why
and closed when the owner, on process one, makes the conversation private again; the owner's
answer goes on and is stored whole."""

import json
import re

import aiohttp
import pytest

from tests import fake_upstream as fake
from tests.live_server import PASSWORD
from tests.relay_client import TabText
from tests.test_multiprocess import (  # noqa: F401 (fixtures)
    FINAL,
    Browser,
    database,  # noqa: F811
    frames_until,
    pair,
    services_up,
    stored,
    upstream,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]
REVOKED = "You no longer have access"
TEXT = "".join(f"x{i:03d} " for i in range(400))


async def login_as(server, username: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(f"{server.url}/accounts/login/") as page:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', await page.text())
    form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)}
    async with session.post(
        f"{server.url}/accounts/login/", data=form, headers={"Referer": server.url}
    ) as done:
        assert done.status == 200, await done.text()
    return session


async def make_private(session: aiohttp.ClientSession, server, conversation: int) -> None:
    page_url = f"{server.url}/c/{conversation}/"
    async with session.get(page_url) as page:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', await page.text())
    async with session.post(
        f"{server.url}/c/{conversation}/share/",
        data={"team": "", "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": page_url},
        allow_redirects=False,
    ) as done:
        assert done.status == 302, await done.text()


async def test_unshare_on_one_process_closes_the_members_tab_on_the_other(
    tmp_path,
    database,  # noqa: F811
    upstream,  # noqa: F811
):
    upstream.enqueue(fake.text_stream(TEXT, chunk=5, delay=0.01))
    one, two = pair(tmp_path, database, upstream)
    owner = await Browser.login(one)
    conversation = owner.conversation
    one.manage(
        "shell", "-v0", "-c",
        "from django.contrib.auth.models import User; "
        "from accounts.models import Team, Membership; from chat.models import Conversation; "
        f"m = User.objects.create_user('member', password='{PASSWORD}'); "
        "t = Team.objects.create(name='Research'); "
        "Membership.objects.create(team=t, user=m); "
        "Membership.objects.create(team=t, user=User.objects.get(username='tester')); "
        f"Conversation.objects.filter(pk={conversation}).update(shared_with=t)",
    )  # fmt: skip
    member = await login_as(two, "member")
    try:
        owner_ws = await owner.socket(one)
        cookies = "; ".join(f"{c.key}={c.value}" for c in member.cookie_jar)
        member_ws = await member.ws_connect(
            f"ws://127.0.0.1:{two.port}/ws/conversations/{conversation}/",
            headers={"Origin": two.url, "Cookie": cookies},
        )
        await owner_ws.send_str(json.dumps({"action": "send", "message": "go"}))
        member_tab = TabText()
        before = await frames_until(member_ws, "x020 ", member_tab)
        assert 'value="stop"' not in "".join(before)  # a viewer's frames carry no Stop
        await make_private(owner.session, one, conversation)
        after = await frames_until(member_ws, REVOKED, member_tab)
        assert 'value="stop"' not in "".join(after)
        closing = await member_ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert member_ws.close_code == 4403
        owner_tab = TabText()
        await frames_until(owner_ws, FINAL, owner_tab, wait=30)
        row = stored(one, conversation)
        assert row["status"] == "completed" and row["text"] == TEXT
        assert owner_tab.of(row["id"]) == TEXT.strip()
    finally:
        await member.close()
        await owner.close()
        one.stop()
        two.stop()
