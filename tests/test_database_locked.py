"""Fault matrix: the database is locked (SQLite busy: another writer holds it) while a turn ends.
The final save waits and is stored whole; the person sees it completed; another person's
stream keeps flowing meanwhile. A real server process on a SQLite file (project/serve.py)."""

import asyncio
import json
import secrets
import sqlite3

import pytest

from tests import fake_upstream as fake
from tests.live_server import PASSWORD, LiveServer
from tests.relay_client import TabText
from tests.test_multiprocess import FINAL, Browser, frames_until
from tests.test_multiprocess_access import login_as
from tests.test_process_services import answer_row

pytestmark = pytest.mark.timeout(120)
LOCK_SECONDS = 3.0


async def read_until_final(ws, tab: TabText, seen: dict[str, float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        message = await ws.receive()
        tab.feed(message.data)
        if "a299" in message.data:
            seen.setdefault("last word", loop.time())
        if FINAL in message.data:
            seen["final"] = loop.time()
            return


async def test_a_final_save_during_a_database_lock_waits_and_is_stored(tmp_path):
    mine = "".join(f"a{i:03d} " for i in range(300))
    theirs = "".join(f"b{i:03d} " for i in range(1200))
    with fake.FakeUpstream() as upstream:
        upstream.enqueue(
            fake.text_stream(theirs, chunk=5, delay=0.005),
            fake.text_stream(mine, chunk=5, delay=0.01),
        )
        env = {
            "SECRET_KEY": secrets.token_urlsafe(40),
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_API_KEY": "k",
            "CHAT_CHECKPOINT_SECONDS": "0.3",
        }
        server = LiveServer(tmp_path, env).start()
        server.manage(
            "shell", "-v0", "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.create_user('other', password='{PASSWORD}')",
        )  # fmt: skip
        person = await Browser.login(server)
        other = await login_as(server, "other")
        try:
            async with other.get(f"{server.url}/") as page:
                other_conversation = int(str(page.url).rstrip("/").rsplit("/", 1)[1])
            cookies = "; ".join(f"{c.key}={c.value}" for c in other.cookie_jar)
            other_ws = await other.ws_connect(
                f"ws://127.0.0.1:{server.port}/ws/conversations/{other_conversation}/",
                headers={"Origin": server.url, "Cookie": cookies},
            )
            await other_ws.send_str(json.dumps({"action": "send", "message": "long"}))
            other_tab = TabText()
            await frames_until(other_ws, "b010 ", other_tab)
            ws = await person.socket(server)
            await ws.send_str(json.dumps({"action": "send", "message": "go"}))
            tab = TabText()
            await frames_until(ws, "a100 ", tab)
            seen: dict[str, float] = {}
            mine_to_the_end = asyncio.create_task(read_until_final(ws, tab, seen))

            database = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
            database.execute("BEGIN IMMEDIATE")  # another writer holds the database
            loop = asyncio.get_running_loop()
            locked_until = loop.time() + LOCK_SECONDS
            other_frames_while_locked = 0
            while loop.time() < locked_until:
                try:
                    async with asyncio.timeout(locked_until - loop.time()):
                        message = await other_ws.receive()
                except TimeoutError:
                    break
                other_tab.feed(message.data)
                other_frames_while_locked += 1
            mine_during_lock = answer_row(tmp_path / "db.sqlite3", person.conversation)
            unlocked_at = loop.time()
            database.execute("COMMIT")
            database.close()

            await asyncio.wait_for(mine_to_the_end, 30)
            row = answer_row(tmp_path / "db.sqlite3", person.conversation)
            assert seen["last word"] < unlocked_at < seen["final"]  # it ended during the lock
            assert mine_during_lock["status"] == "streaming"
            assert row["status"] == "completed" and row["text"] == mine
            assert len(row["usage"]) == 1
            assert tab.of(row["id"]) == mine.strip()
            assert other_frames_while_locked > 20  # the other person's stream never paused
            await frames_until(other_ws, FINAL, other_tab, wait=30)
            other_row = answer_row(tmp_path / "db.sqlite3", other_conversation)
            assert other_row["status"] == "completed" and other_row["text"] == theirs
            assert other_tab.of(other_row["id"]) == theirs.strip()
        finally:
            await other.close()
            await person.close()
            server.stop()
