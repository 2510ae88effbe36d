"""What the bare reader tells the operator when a server's bytes are not an HTTP answer we
accept (issue 13's mutation pass over chat.upstream.wire): the person sees our words, the log
says what the server did wrong, so it can be told from a refused connection."""

import logging

import pytest

from chat.upstream import errors
from chat.upstream.client import UpstreamConfig, close_shared_client, stream_response
from chat.upstream.errors import UpstreamError
from tests import raw_http as raw
from tests.raw_http import RawServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def server():
    async with RawServer() as s:
        yield s
    await close_shared_client()


async def refusal(server: RawServer, caplog) -> tuple[UpstreamError, str]:
    cfg = UpstreamConfig(base_url=server.url(), api_key="k", connect_timeout=1.0,
                         first_event_timeout=3.0, idle_timeout=3.0, max_retries=0)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="chat.upstream.client"):
        with pytest.raises(UpstreamError) as caught:
            async for _ in stream_response({"model": "m", "input": "hi"}, config=cfg):
                pass
    return caught.value, caplog.text


async def test_a_protocol_switch_is_refused_and_logged_as_such(server, caplog):
    server.script(raw.reply(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                            b"connection: upgrade\r\n\r\n"))  # fmt: skip
    err, log = await refusal(server, caplog)
    assert err.kind == errors.CONNECT
    assert err.message == "Could not reach the model server."
    assert "upstream unreachable: the server switched protocols" in log
    assert len(server.requests) == 1


async def test_bytes_that_are_not_http_are_logged_with_the_parsers_reason(server, caplog):
    server.script(raw.reply(b"SSH-2.0-OpenSSH_9.6\r\n"))
    err, log = await refusal(server, caplog)
    assert err.kind == errors.CONNECT
    # llhttp's own words, not a placeholder: the operator learns it was not HTTP at all.
    assert "upstream unreachable: Expected HTTP/" in log
