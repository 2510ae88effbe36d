"""Process services (sweeper, signal handling) start with the server, not with the first socket:
after a kill -9 and a restart, an answer left `streaming` becomes `interrupted` by itself, with
no tab open, under uvicorn (project/serve.py) and under daphne alike."""

import asyncio
import json
import secrets
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from tests import fake_upstream as fake
from tests.live_server import LiveServer
from tests.relay_client import TabText
from tests.test_multiprocess import Browser, frames_until

pytestmark = pytest.mark.timeout(120)


class DaphneServer(LiveServer):
    """The same app under daphne, which has no ASGI lifespan."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)] + [
            "project.asgi:application"
        ]


def answer_row(database: Path, conversation: int) -> dict:
    """The latest answer as stored, read from the server's SQLite file (never through a socket)."""
    with sqlite3.connect(database, timeout=10) as db:
        message_id, status, text = db.execute(
            "SELECT id, status, text FROM chat_message WHERE conversation_id = ? "
            "AND role = 'assistant' ORDER BY id DESC LIMIT 1",
            [conversation],
        ).fetchone()
        usage = db.execute(
            "SELECT output_tokens, estimated FROM chat_usagerecord WHERE message_id = ?",
            [message_id],
        ).fetchall()
    return {"id": message_id, "status": status, "text": text, "usage": usage}


def status_after(database: Path, conversation: int, wanted: str, wait: float) -> dict:
    deadline = time.monotonic() + wait
    row = answer_row(database, conversation)
    while row["status"] != wanted and time.monotonic() < deadline:
        time.sleep(0.1)
        row = answer_row(database, conversation)
    return row


@pytest.mark.parametrize("restart_as", [LiveServer, DaphneServer], ids=["uvicorn", "daphne"])
async def test_after_kill_9_a_restarted_server_ends_the_turn_with_no_tab_open(tmp_path, restart_as):
    with fake.FakeUpstream() as upstream:
        upstream.enqueue(fake.text_stream("gone? " * 2000, chunk=6, delay=0.01))
        env = {
            "SECRET_KEY": secrets.token_urlsafe(40),
            "OPENAI_BASE_URL": upstream.base_url,
            "OPENAI_API_KEY": "k",
            "CHAT_CHECKPOINT_SECONDS": "0.3",
            "TURN_LEASE_SECONDS": "2",
            "SWEEP_INTERVAL_SECONDS": "0.5",
        }
        server = LiveServer(tmp_path, env).start()
        person = await Browser.login(server)
        try:
            ws = await person.socket(server)
            await ws.send_str(json.dumps({"action": "send", "message": "go"}))
            await frames_until(ws, "gone? gone? gone? gone?", TabText())
            await asyncio.sleep(0.8)  # a checkpoint (every 0.3 s) lands
            server.kill()
            await person.close()
            database = tmp_path / "db.sqlite3"
            assert answer_row(database, person.conversation)["status"] == "streaming"
            again = restart_as(tmp_path, env, setup=False)
            again.port, again.url = server.port, server.url
            again.run()
            try:
                row = status_after(database, person.conversation, "interrupted", wait=20)
                assert row["status"] == "interrupted"
                assert row["text"].startswith("gone? gone?")
                assert row["usage"] and row["usage"][0][1] == 1  # estimated, flagged
            finally:
                again.stop()
        finally:
            await person.close()
            server.stop()
