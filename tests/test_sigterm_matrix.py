"""Fault matrix: SIGTERM to the process running a turn (PostgreSQL + Redis, two processes).
The tab watching from the other process sees the answer end as interrupted with its text,
that is what is stored, and another person's answer streaming on the other process goes on
whole."""

import json

import pytest

from tests import fake_upstream as fake
from tests.relay_client import TabText
from tests.test_multiprocess import (  # noqa: F401 (fixtures)
    FINAL,
    Browser,
    database,
    frames_until,
    pair,
    services_up,
    stored,
    upstream,
)
from tests.test_multiprocess_access import login_as

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


async def test_sigterm_ends_the_turn_as_interrupted_for_every_tab_and_spares_others(
    tmp_path,
    database,  # noqa: F811
    upstream,  # noqa: F811
):
    theirs = "".join(f"k{i:03d} " for i in range(900))
    upstream.enqueue(
        fake.text_stream("term " * 3000, chunk=5, delay=0.01),
        fake.text_stream(theirs, chunk=5, delay=0.006),
    )
    one, two = pair(tmp_path, database, upstream)
    one.manage(
        "shell", "-v0", "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('other', password='browser-pass-123')",
    )  # fmt: skip
    person = await Browser.login(one)
    other = await login_as(two, "other")
    try:
        ws1, ws2 = await person.socket(one), await person.socket(two)
        await ws1.send_str(json.dumps({"action": "send", "message": "go"}))
        tab2 = TabText()
        await frames_until(ws2, "term term term", tab2)
        async with other.get(f"{two.url}/") as page:
            other_conversation = int(str(page.url).rstrip("/").rsplit("/", 1)[1])
        cookies = "; ".join(f"{c.key}={c.value}" for c in other.cookie_jar)
        other_ws = await other.ws_connect(
            f"ws://127.0.0.1:{two.port}/ws/conversations/{other_conversation}/",
            headers={"Origin": two.url, "Cookie": cookies},
        )
        await other_ws.send_str(json.dumps({"action": "send", "message": "long"}))
        other_tab = TabText()
        await frames_until(other_ws, "k010 ", other_tab)
        one.proc.terminate()  # SIGTERM
        seen = await frames_until(ws2, FINAL, tab2, wait=30)
        assert "badge-interrupted" in seen[-1]
        one.proc.wait(20)
        row = stored(two, person.conversation)
        assert row["status"] == "interrupted" and row["text"].startswith("term term")
        assert tab2.of(row["id"]) == row["text"].strip()  # what the tab shows is what is kept
        assert row["usage"]
        await frames_until(other_ws, FINAL, other_tab, wait=30)
        other_row = stored(two, other_conversation)
        assert other_row["status"] == "completed" and other_row["text"] == theirs
        assert other_tab.of(other_row["id"]) == theirs.strip()
    finally:
        await other.close()
        await person.close()
        one.stop()
        two.stop()
