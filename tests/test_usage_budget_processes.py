"""Budgets with two server processes on PostgreSQL and Redis: concurrent turns on both are all
counted (the ledger is the counter: no lost increments), and usage written by one process
makes the other warn and then refuse, with nothing sent upstream."""

import asyncio
import json

import pytest

from tests import fake_upstream as fake
from tests import test_multiprocess as mp
from tests.relay_client import TabText
from tests.test_multiprocess import FINAL, Browser, frames_until, pair

pytestmark = pytest.mark.services
services_up, database, upstream = mp.services_up, mp.database, mp.upstream  # the same fixtures
TURNS = 6
PER_TURN = 13  # the fake stream's usage for "Hello there friend" in chunks of 4: 8 in, 5 out


def shell(server, code: str) -> str:
    lines = server.manage("shell", "-v0", "-c", code).strip().splitlines()
    return lines[-1] if lines else ""


def ledger(server) -> dict:
    return json.loads(
        shell(
            server,
            "import json; from django.db.models import Sum, Count; from chat.models import "
            "UsageRecord as U; print(json.dumps(U.objects.aggregate(n=Count('id'), "
            "tokens=Sum('total_tokens'))))",
        )
    )


async def send(person, server, conversation: int, text: str):
    person.conversation = conversation
    ws = await person.socket(server)
    await ws.send_str(json.dumps({"action": "send", "message": text}))
    return ws


@pytest.mark.slow
@pytest.mark.timeout(300)  # two servers start, seven turns run: ~1 min, longer on a busy machine
async def test_concurrent_turns_on_two_processes_all_count_and_both_refuse(
    tmp_path, database, upstream
):
    for _ in range(TURNS):
        upstream.enqueue(fake.text_stream("Hello there friend", chunk=4, delay=0.05))
    upstream.enqueue(fake.text_stream("Warned, fine.", chunk=4, delay=0.05))  # 8 + 4 tokens
    one, two = pair(tmp_path, database, upstream)
    ids = json.loads(
        shell(
            one,
            "import json; from django.contrib.auth.models import User; "
            "from chat.models import Budget, Conversation as C; "
            "u = User.objects.get(username='tester'); "
            "Budget.objects.create(scope='user', user=u, monthly_tokens=1000); "
            f"print(json.dumps([C.objects.create(owner=u).pk for _ in range({TURNS})]))",
        )
    )
    person = await Browser.login(one)
    try:
        # Six turns at once, alternating between the processes.
        sockets = [
            await send(person, (one, two)[i % 2], conversation, f"q{i}")
            for i, conversation in enumerate(ids)
        ]
        await asyncio.gather(*(frames_until(ws, FINAL, TabText()) for ws in sockets))
        assert len(upstream.requests) == TURNS
        assert ledger(two) == {"n": TURNS, "tokens": TURNS * PER_TURN}

        # 78 of 90 tokens: 86 %. A turn on process two warns, and runs.
        shell(one, "from chat.models import Budget; Budget.objects.update(monthly_tokens=90)")
        ws = await send(person, two, ids[0], "warn me")
        tab = TabText()
        frames = await frames_until(ws, "You have used 86 % of a monthly budget", tab)
        assert "78 of 90 tokens of your budget this month" in frames[-1]
        await frames_until(ws, FINAL, tab)  # the end of this new answer (after the warning)
        assert ledger(one) == {"n": TURNS + 1, "tokens": TURNS * PER_TURN + 12}

        # 90 of 90: process one, which did not run that turn, refuses; so does process two.
        for server, conversation in ((one, ids[1]), (two, ids[2])):
            ws = await send(person, server, conversation, "refuse me")
            frames = await frames_until(ws, "Monthly budget reached", TabText())
            assert "90 of 90 tokens of your budget this month" in frames[-1]
        assert len(upstream.requests) == TURNS + 1  # nothing more went upstream
        assert ledger(one)["n"] == TURNS + 1
    finally:
        await person.close()
        one.stop()
        two.stop()
