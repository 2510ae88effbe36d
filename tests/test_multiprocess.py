"""Two server processes (project/serve.py) on real PostgreSQL and Redis: watch, stop, crash, SIGTERM, Redis restart."""

import asyncio
import json
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid

import aiohttp
import pytest

from tests import fake_upstream as fake
from tests.conftest import REQUIRE_SERVICES, port_open, require
from tests.live_server import PASSWORD, LiveServer, free_port
from tests.relay_client import TabText

pytestmark = pytest.mark.services
PG = "postgres://postgres@127.0.0.1:5432/"
FINAL = 'data-live="false"'


@pytest.fixture
def services_up():
    require(
        port_open("127.0.0.1", 5432),
        "PostgreSQL is not running on 127.0.0.1:5432",
        required=REQUIRE_SERVICES,
    )
    require(
        port_open("127.0.0.1", 6379),
        "Redis is not running on 127.0.0.1:6379",
        required=REQUIRE_SERVICES,
    )


@pytest.fixture
def database(services_up):
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    import psycopg

    name = f"chat_mp_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG + "test", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield PG + name
    with psycopg.connect(PG + "test", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def upstream():
    with fake.FakeUpstream() as up:
        yield up


def pair(tmp_path, database, upstream, redis_url="redis://127.0.0.1:6379/0", **extra):
    env = {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "k",
        "CHAT_CHECKPOINT_SECONDS": "0.3",
        "TURN_LEASE_SECONDS": "2",
        "SWEEP_INTERVAL_SECONDS": "0.5",
        "SHUTDOWN_DRAIN_SECONDS": "1",
        **extra,
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = LiveServer(tmp_path / "a", env).start()
    two = LiveServer(tmp_path / "b", env, setup=False).run()
    return one, two


class Browser:
    """A logged-in HTTP session plus sockets, like a person's browser."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    @classmethod
    async def login(cls, server: LiveServer) -> "Browser":
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.get(f"{server.url}/accounts/login/") as page:
            token = re.search(
                r'name="csrfmiddlewaretoken" value="([^"]+)"', await page.text()
            ).group(1)
        form = {"username": "tester", "password": PASSWORD, "csrfmiddlewaretoken": token}
        async with session.post(
            f"{server.url}/accounts/login/", data=form, headers={"Referer": server.url}
        ) as done:
            assert done.status == 200 and "/c/" in str(done.url)
            self = cls(session)
            self.conversation = int(re.search(r"/c/(\d+)/", str(done.url)).group(1))
        return self

    async def socket(self, server: LiveServer):
        url = f"ws://127.0.0.1:{server.port}/ws/conversations/{self.conversation}/"
        cookies = {c.key: c.value for c in self.session.cookie_jar}
        headers = {
            "Origin": server.url,
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        }
        return await self.session.ws_connect(url, headers=headers)

    async def close(self) -> None:
        await self.session.close()


async def frames_until(ws, needle: str, tab: TabText, wait: float = 15) -> list[str]:
    seen = []
    async with asyncio.timeout(wait):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            seen.append(msg.data)
            tab.feed(msg.data)
            if needle in msg.data:
                return seen


def stored(server: LiveServer, conversation: int) -> dict:
    out = server.manage(
        "shell",
        "-v0",
        "-c",
        "import json; from chat.models import Message as M; "
        f"m = M.objects.filter(conversation_id={conversation}, role='assistant').latest('id'); "
        "print(json.dumps({'id': m.pk, 'status': m.status, 'text': m.text, "
        "'usage': [(u.output_tokens, u.estimated) for u in m.usage_records.all()]}))",
    )
    return json.loads(out.strip().splitlines()[-1])


async def test_turn_on_one_process_is_watched_and_stopped_from_the_other(
    tmp_path, database, upstream
):
    upstream.enqueue(fake.text_stream("cross " * 400, chunk=6, delay=0.01))
    one, two = pair(tmp_path, database, upstream)
    person = await Browser.login(one)
    try:
        ws1, ws2 = await person.socket(one), await person.socket(two)
        await ws1.send_str(json.dumps({"action": "send", "message": "go"}))
        tab2 = TabText()
        await frames_until(ws2, "cross cross cross", tab2)
        await ws2.send_str(json.dumps({"action": "stop"}))
        await frames_until(ws2, FINAL, tab2)
        tab1 = TabText()
        await frames_until(ws1, FINAL, tab1)
        row = stored(one, person.conversation)
        assert row["status"] == "cancelled"
        assert 0 < len(row["text"]) < len("cross " * 400)
        assert tab1.of(row["id"]) == tab2.of(row["id"]) == row["text"].strip()
    finally:
        await person.close()
        one.stop()
        two.stop()


async def test_tab_on_the_other_process_reattaches_without_gap(tmp_path, database, upstream):
    text = "".join(f"{i:03d} " for i in range(300))
    upstream.enqueue(fake.text_stream(text, chunk=4, delay=0.008))
    one, two = pair(tmp_path, database, upstream)
    person = await Browser.login(one)
    try:
        ws1 = await person.socket(one)
        await ws1.send_str(json.dumps({"action": "send", "message": "count"}))
        await frames_until(ws1, "040 ", TabText())
        ws2 = await person.socket(two)  # opened mid-stream on the other process
        tab2 = TabText()
        await frames_until(ws2, FINAL, tab2)
        row = stored(two, person.conversation)
        assert row["status"] == "completed"
        assert tab2.of(row["id"]) == row["text"].strip() == text.strip()
    finally:
        await person.close()
        one.stop()
        two.stop()


async def test_kill_9_of_the_owner_ends_as_interrupted_and_tabs_see_it(
    tmp_path, database, upstream
):
    upstream.enqueue(fake.text_stream("lost? " * 1000, chunk=6, delay=0.01))
    one, two = pair(tmp_path, database, upstream)
    person = await Browser.login(one)
    try:
        ws1, ws2 = await person.socket(one), await person.socket(two)
        await ws1.send_str(json.dumps({"action": "send", "message": "go"}))
        tab2 = TabText()
        await frames_until(ws2, "lost? lost? lost? lost? lost?", tab2)
        await asyncio.sleep(0.8)  # let at least one checkpoint (every 0.3 s) land
        one.kill()
        await frames_until(ws2, "interrupted", tab2, wait=20)
        row = stored(two, person.conversation)
        assert row["status"] == "interrupted"
        assert row["text"].startswith("lost? lost?")
        assert row["usage"] and row["usage"][0][1] is True  # an estimate, flagged
        ws3 = await person.socket(two)  # a tab re-attaching later sees the same end
        tab3 = TabText()
        await frames_until(ws3, "interrupted", tab3)
        assert tab3.of(row["id"]) == row["text"].strip()
    finally:
        await person.close()
        two.stop()


async def test_sigterm_mid_stream_saves_the_turn_and_exits_in_bounded_time(
    tmp_path, database, upstream
):
    upstream.enqueue(fake.text_stream("draining " * 2000, chunk=9, delay=0.01))
    one, two = pair(tmp_path, database, upstream)
    person = await Browser.login(one)
    try:
        ws1 = await person.socket(one)
        await ws1.send_str(json.dumps({"action": "send", "message": "go"}))
        await frames_until(ws1, "draining draining", TabText())
        started = time.monotonic()
        one.proc.send_signal(signal.SIGTERM)
        one.proc.wait(20)
        assert time.monotonic() - started < 12
        row = stored(two, person.conversation)
        assert row["status"] == "interrupted"
        assert row["text"].startswith("draining")
        assert row["usage"]
    finally:
        await person.close()
        one.stop()
        two.stop()


@pytest.fixture
def private_redis(services_up, tmp_path):
    """A Redis of our own, so restarting it disturbs nothing else."""
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server is not installed", required=REQUIRE_SERVICES)
    port = free_port()

    def start():
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if port_open("127.0.0.1", port):
                return proc
            time.sleep(0.05)
        raise RuntimeError("redis did not start")

    holder = {"proc": start()}

    def restart():
        holder["proc"].kill()
        holder["proc"].wait()
        holder["proc"] = start()

    yield f"redis://127.0.0.1:{port}/0", restart
    holder["proc"].kill()


async def test_redis_restart_mid_stream_loses_no_answer(
    tmp_path, database, upstream, private_redis
):
    url, restart = private_redis
    text = "".join(f"r{i} " for i in range(300))
    upstream.enqueue(
        fake.text_stream(text, chunk=4, delay=0.01), fake.text_stream("after restart", delay=0)
    )
    one, two = pair(tmp_path, database, upstream, redis_url=url)
    person = await Browser.login(one)
    try:
        ws1 = await person.socket(one)
        await ws1.send_str(json.dumps({"action": "send", "message": "go"}))
        tab1 = TabText()
        await frames_until(ws1, "r20 ", tab1)
        restart()
        await frames_until(ws1, FINAL, tab1, wait=30)
        row = stored(one, person.conversation)
        assert row["status"] == "completed" and row["text"] == text
        assert tab1.of(row["id"]) == text.strip()  # the runner's own tabs never depended on Redis
        ws2 = await person.socket(two)  # and the other process works again after the restart
        await ws2.send_str(json.dumps({"action": "send", "message": "again"}))
        tab2 = TabText()
        await frames_until(ws2, "after restart", tab2, wait=30)
    finally:
        await person.close()
        one.stop()
        two.stop()


async def test_background_turn_is_resumed_by_the_other_process_after_kill_9(
    tmp_path, database, upstream
):
    text = "".join(f"b{i:03d} " for i in range(400))
    rid = "resp_bg_test_0001"
    upstream.enqueue(
        fake.text_stream(text, chunk=5, delay=0.01, response_id=rid, background=True),
        fake.text_stream(
            text, chunk=5, delay=0.001, response_id=rid, background=True
        ),  # the resume
    )
    one, two = pair(tmp_path, database, upstream, CHAT_BACKGROUND="1")
    person = await Browser.login(one)
    try:
        ws1, ws2 = await person.socket(one), await person.socket(two)
        await ws1.send_str(json.dumps({"action": "send", "message": "go"}))
        tab2 = TabText()
        await frames_until(ws2, "b030 ", tab2)
        await asyncio.sleep(0.8)  # a checkpoint (every 0.3 s) with its sequence number lands
        one.kill()
        await frames_until(ws2, FINAL, tab2, wait=30)
        row = stored(two, person.conversation)
        assert row["status"] == "completed"
        assert row["text"] == text
        assert tab2.of(row["id"]) == text.strip()
        posted = [r for r in upstream.requests if r["method"] == "POST"]
        assert posted[0]["json"]["background"] is True
        resumed = [r for r in upstream.requests if r["method"] == "GET" and rid in r["path"]]
        assert resumed and int(resumed[0]["query"]["starting_after"]) > 10
        assert resumed[0]["query"]["stream"] == "true"
    finally:
        await person.close()
        two.stop()
