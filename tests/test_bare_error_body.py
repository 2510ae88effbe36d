"""How much of an error answer the bare reader reads (chat.upstream.bare._read_error_body,
issue 13's mutation pass): up to MAX_ERROR_BODY bytes whatever the reads' sizes, no more
read once it has them, and never past the deadline when the server stalls. Also which
environment counts as a configured proxy."""

import asyncio

import pytest

from chat.upstream import bare
from chat.upstream.answers import MAX_ERROR_BODY
from tests import raw_http as raw
from tests.test_upstream_wire import connected

pytestmark = pytest.mark.timeout(30)


async def error_answer(length: int):
    wire, _ = connected()
    wire.data_received(raw.head("400 Bad", f"content-length: {length}"))
    await wire.head()
    return wire


async def test_the_body_is_read_up_to_the_bound_across_reads():
    wire = await error_answer(MAX_ERROR_BODY + 10)
    loop = asyncio.get_running_loop()
    wire.data_received(b"a" * (MAX_ERROR_BODY - 1))  # one byte short after the first read
    reading = asyncio.ensure_future(bare._read_error_body(wire, loop.time() + 5))
    await asyncio.sleep(0.05)
    wire.data_received(b"b" * 11)
    body = await asyncio.wait_for(reading, 3)
    assert body == b"a" * (MAX_ERROR_BODY - 1) + b"b"


async def test_reads_are_joined_as_they_came():
    wire = await error_answer(6)
    loop = asyncio.get_running_loop()
    wire.data_received(b"abc")
    reading = asyncio.ensure_future(bare._read_error_body(wire, loop.time() + 5))
    await asyncio.sleep(0.05)
    wire.data_received(b"def")
    assert await asyncio.wait_for(reading, 3) == b"abcdef"


@pytest.mark.parametrize("pieces", [1, 2, 4])
async def test_no_read_after_the_bound_even_if_the_server_stalls(pieces):
    wire = await error_answer(MAX_ERROR_BODY * 3)
    loop = asyncio.get_running_loop()
    size = MAX_ERROR_BODY // pieces + (pieces > 1)
    reading = asyncio.ensure_future(bare._read_error_body(wire, loop.time() + 5))
    for _ in range(pieces):
        await asyncio.sleep(0.02)
        wire.data_received(b"x" * size)
    started = loop.time()
    body = await asyncio.wait_for(reading, 3)
    assert loop.time() - started < 1.0  # done with the bound, not waiting for the deadline
    assert body == b"x" * MAX_ERROR_BODY


async def test_a_stalled_error_body_ends_at_the_deadline():
    wire = await error_answer(100)
    loop = asyncio.get_running_loop()
    wire.data_received(b"partial")
    started = loop.time()
    body = await asyncio.wait_for(bare._read_error_body(wire, loop.time() + 0.3), 3)
    assert body == b"partial"
    assert 0.25 < loop.time() - started < 2.0


@pytest.mark.parametrize(
    ("env", "configured"),
    [
        ({}, False),
        ({"HTTP_PROXY": "http://p:1"}, True),
        ({"https_proxy": "http://p:1"}, True),
        ({"ALL_PROXY": "http://p:1"}, True),
        ({"FTP_PROXY": "http://p:1"}, False),
        ({"NO_PROXY": "*"}, False),
    ],
)
def test_which_environment_configures_a_proxy(monkeypatch, env, configured):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert bare.proxy_configured() is configured
