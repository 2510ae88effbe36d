# ruff: noqa: F811 (pytest fixtures imported from tests/test_multiprocess.py)
"""Versions across two server processes (PostgreSQL + Redis): a regenerate started on one and
a switch made on the other reach the tabs of both (chat/branches.py, the conversation events
of chat/history/broadcast.py)."""

import json
import re

import pytest

from tests import fake_upstream as fake
from tests.relay_client import TabText
from tests.test_multiprocess import (  # noqa: F401  (fixtures)
    FINAL,
    Browser,
    database,
    frames_until,
    pair,
    services_up,
    upstream,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]


async def test_a_regenerate_and_a_switch_reach_tabs_on_both_processes(tmp_path, database, upstream):
    upstream.enqueue(
        fake.text_stream("First version.", delay=0), fake.text_stream("Second version.", delay=0)
    )
    one, two = pair(tmp_path, database, upstream)
    person = await Browser.login(one)
    try:
        ws1, ws2 = await person.socket(one), await person.socket(two)
        await ws1.send_str(json.dumps({"action": "send", "message": "Q"}))
        first = "".join(await frames_until(ws2, FINAL, TabText()))
        await frames_until(ws1, FINAL, TabText())
        answer_id = int(re.search(r'id="m(\d+)" class="message assistant', first).group(1))
        await ws1.send_str(json.dumps({"action": "retry", "message": answer_id}))
        seen = "".join(await frames_until(ws2, FINAL, TabText()))
        assert f'id="m{answer_id}" hx-swap-oob="delete"' in seen and "2/2" in seen
        assert "Second version." in seen
        await frames_until(ws1, FINAL, TabText())
        await ws2.send_str(json.dumps({"action": "switch", "message": answer_id}))
        for ws in (ws1, ws2):
            shown = "".join(await frames_until(ws, 'id="transcript"', TabText()))
            assert "First version." in shown and "Second version." not in shown
            assert "1/2" in shown
    finally:
        await person.close()
        one.stop()
        two.stop()
