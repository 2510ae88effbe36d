"""The bare upstream reader (chat.upstream.bare, wire, pool) end to end through
stream_response, against a server that writes exactly the bytes each test scripts
(tests/raw_http.py): keep-alive and the pool's limit, body framings, faults, and uvloop."""

import asyncio

import pytest

from chat.turns.state import TurnState
from chat.upstream import bare, errors, pool, wire
from chat.upstream.client import UpstreamConfig, close_shared_client, stream_response
from chat.upstream.errors import UpstreamError
from tests import raw_http as raw
from tests.raw_http import RawServer

pytestmark = pytest.mark.timeout(60)
BODY = {"model": "m", "input": "hi"}


def config(server: RawServer, **overrides) -> UpstreamConfig:
    options = dict(base_url=server.url(), api_key="k", connect_timeout=1.0,
                   first_event_timeout=3.0, idle_timeout=3.0, max_retries=0)  # fmt: skip
    return UpstreamConfig(**{**options, **overrides})


async def text_of(cfg: UpstreamConfig) -> str:
    state = TurnState()
    async for event in stream_response(BODY, config=cfg):
        state.apply(event)
    assert state.status == "completed"
    return state.text


async def failure(cfg: UpstreamConfig) -> tuple[UpstreamError, TurnState]:
    state = TurnState()
    with pytest.raises(UpstreamError) as caught:
        async for event in stream_response(BODY, config=cfg):
            state.apply(event)
    return caught.value, state


@pytest.fixture
async def server():
    async with RawServer() as s:
        yield s
    await close_shared_client()


async def test_streams_without_a_client_take_the_bare_reader(server, monkeypatch):
    bodies = []
    original = bare.WireResponse.body
    monkeypatch.setattr(
        bare.WireResponse, "body", lambda self, *a: bodies.append(original(self, *a)) or bodies[-1]
    )
    server.script(raw.chunked_answer("one two"))
    assert await text_of(config(server)) == "onetwo"
    assert len(bodies) == 1
    request = server.requests[0]
    assert request.line == b"POST /v1/responses HTTP/1.1"
    assert request.headers["authorization"] == "Bearer k"
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert request.headers["accept-encoding"] == "identity"
    assert b'"stream":true' in request.body


async def test_sequential_streams_reuse_one_connection(server):
    server.script(*(raw.chunked_answer(f"n{i}") for i in range(3)))
    cfg = config(server)
    assert [await text_of(cfg) for _ in range(3)] == ["n0", "n1", "n2"]
    assert [r.connection for r in server.requests] == [0, 0, 0]
    assert pool.pool_for(asyncio.get_running_loop(), 10).idle_count() == 1


async def test_a_kept_connection_the_server_closes_leaves_the_pool(server):
    server.script(raw.chunked_answer("one"))
    cfg = config(server)
    assert await text_of(cfg) == "one"
    the_pool = pool.pool_for(asyncio.get_running_loop(), 10)
    assert (the_pool.idle_count(), the_pool.open) == (1, 1)
    await server.close_connections()
    for _ in range(100):
        if the_pool.open == 0:
            break
        await asyncio.sleep(0.01)
    assert (the_pool.idle_count(), the_pool.open) == (0, 0)


async def test_an_idle_connection_expires(server, monkeypatch):
    monkeypatch.setattr(pool, "KEEPALIVE_EXPIRY", 0.05)
    server.script(raw.chunked_answer("one"), raw.chunked_answer("two"))
    cfg = config(server)
    assert await text_of(cfg) == "one"
    await asyncio.sleep(0.1)
    assert await text_of(cfg) == "two"
    assert [r.connection for r in server.requests] == [0, 1]
    assert pool.pool_for(asyncio.get_running_loop(), 10).open == 1  # the old one was closed


async def test_failed_connects_give_their_place_back():
    from tests.live_server import free_port

    cfg = UpstreamConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", max_connections=2,
                         max_retries=0)  # fmt: skip
    for _ in range(5):  # more than the limit: each refused connect returned its place
        err, _ = await failure(cfg)
        assert err.kind == errors.CONNECT
    assert pool.pool_for(asyncio.get_running_loop(), 2).open == 0
    await close_shared_client()


async def test_a_connect_that_hangs_is_a_connect_timeout(monkeypatch):
    loop = asyncio.get_running_loop()

    async def blackhole(*args, **kwargs):
        await asyncio.sleep(30)  # a SYN nobody answers

    monkeypatch.setattr(loop, "create_connection", blackhole)
    cfg = UpstreamConfig(base_url="http://10.9.9.9/v1", connect_timeout=0.2, max_retries=0)
    started = loop.time()
    err, _ = await failure(cfg)
    assert err.kind == errors.CONNECT_TIMEOUT
    assert loop.time() - started < 2
    assert pool.pool_for(loop, 10).open == 0
    await close_shared_client()


async def test_a_stream_left_early_closes_its_connection(server):
    server.script(raw.chunked_answer("a b c d"), raw.chunked_answer("again"))
    cfg = config(server)
    async for _ in stream_response(BODY, config=cfg):
        break  # the consumer goes away after the first event
    assert await text_of(cfg) == "again"
    assert [r.connection for r in server.requests] == [0, 1]  # never reused half-read


async def test_the_pool_holds_at_most_max_connections(server):
    async def slow(writer, request):
        await asyncio.sleep(0.2)
        return await raw.chunked_answer("x")(writer, request)

    server.script(*[slow] * 6)
    cfg = config(server, max_connections=2)
    assert await asyncio.gather(*(text_of(cfg) for _ in range(6))) == ["x"] * 6
    assert server.most_open <= 2
    assert server.connections == 2  # the waiting streams took the ones given back


async def test_waiting_for_a_connection_ends_at_the_first_event_deadline(server):
    async def stall(writer, request):
        writer.write(raw.head("200 OK", "transfer-encoding: chunked"))
        await asyncio.sleep(30)
        return False

    server.script(stall)
    holder = asyncio.create_task(failure(config(server, max_connections=1, first_event_timeout=1)))
    await asyncio.sleep(0.1)
    started = asyncio.get_running_loop().time()
    cfg = config(server, max_connections=1, first_event_timeout=0.3)
    err, _ = await failure(cfg)  # no room in the pool: waits, then gives up in time
    assert err.kind == errors.FIRST_EVENT_TIMEOUT
    assert 0.25 < asyncio.get_running_loop().time() - started < 2.0
    assert (await holder)[0].kind == errors.FIRST_EVENT_TIMEOUT
    assert len(server.requests) == 1


async def test_a_kept_connection_the_server_dropped_is_replaced_once(server):
    async def drop(writer, request):
        return False  # reads the second request, closes without a word

    server.script(raw.chunked_answer("first"), drop, raw.chunked_answer("second"))
    cfg = config(server)
    assert await text_of(cfg) == "first"
    assert await text_of(cfg) == "second"  # sent again on a new connection, not an error
    assert [r.connection for r in server.requests] == [0, 0, 1]


async def test_a_fresh_connection_closed_before_an_answer_is_a_connect_error(server):
    async def drop(writer, request):
        return False

    server.script(drop)
    err, _ = await failure(config(server))
    assert err.kind == errors.CONNECT
    assert len(server.requests) == 1


@pytest.mark.parametrize("framing", ["content-length", "until-close", "chunked"])
async def test_each_body_framing(server, framing):
    body = raw.answer("framed body")
    if framing == "content-length":
        handler = raw.reply(raw.head("200 OK", f"content-length: {len(body)}") + body)
    elif framing == "until-close":  # neither length nor chunks: the end is the close
        handler = raw.reply(raw.head("200 OK", "connection: close") + body, keep=False)
    else:
        handler = raw.chunked_answer("framed body")
    server.script(handler, raw.chunked_answer("next"))
    cfg = config(server)
    assert await text_of(cfg) == "framedbody"
    assert await text_of(cfg) == "next"
    reused = [r.connection for r in server.requests] == [0, 0]
    assert reused is (framing != "until-close")


async def test_server_closing_mid_chunk_is_a_cut_that_keeps_what_came(server):
    first = raw.sse({"type": "response.output_text.delta", "delta": "kept"})
    cut = b"%x\r\n%s\r\n" % (len(first), first) + b"40\r\nevent: response.output_te"
    server.script(raw.reply(raw.head("200 OK", "transfer-encoding: chunked") + cut, keep=False))
    err, state = await failure(config(server))
    assert err.kind == errors.STREAM_CUT
    assert err.message == "The connection to the model server broke."
    assert state.text == "kept"


async def test_content_length_body_cut_short_is_a_cut(server):
    body = raw.answer("a b")
    short = raw.head("200 OK", f"content-length: {len(body) + 50}") + body[:-40]
    server.script(raw.reply(short, keep=False))
    err, state = await failure(config(server))
    assert err.kind == errors.STREAM_CUT
    assert state.text == "ab"


async def test_a_huge_header_is_refused_and_not_retried(server):
    big = "x-junk: " + "a" * (wire.MAX_HEAD + 10)
    server.script(raw.reply(raw.head("200 OK", big) + raw.chunked(raw.answer())))
    err, _ = await failure(config(server, max_retries=2))
    assert err.kind == errors.PROTOCOL
    assert "a" * 50 not in err.message  # our words only
    assert len(server.requests) == 1


async def test_a_large_header_within_the_bound_is_fine(server):
    headers = [f"x-h{i}: {'b' * 1000}" for i in range(30)]  # 30 KiB, beyond aiohttp's 8 KiB
    server.script(raw.reply(raw.head("200 OK", "transfer-encoding: chunked", *headers)
                            + raw.chunked(raw.answer("ok"))))  # fmt: skip
    assert await text_of(config(server)) == "ok"


async def test_an_interim_103_answer_is_skipped(server):
    early = b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n"
    server.script(raw.reply(early + raw.head("200 OK", "transfer-encoding: chunked")
                            + raw.chunked(raw.answer("late"))))  # fmt: skip
    assert await text_of(config(server)) == "late"


async def test_an_error_answer_is_read_up_to_the_bound_and_described(server):
    from chat.upstream.answers import MAX_ERROR_BODY

    envelope = b'{"error": {"code": "rate_limit_exceeded", "message": "sk-abcdefghijkl"}}'
    huge = envelope + b" " * (MAX_ERROR_BODY * 4)
    server.script(
        raw.reply(
            b"HTTP/1.1 429 Too Many\r\nretry-after: 0\r\ncontent-length: %d\r\n"
            b"\r\n%s" % (len(huge), huge)
        ),  # fmt: skip
        raw.chunked_answer("after"),
    )
    assert await text_of(config(server, max_retries=1)) == "after"
    server.script(raw.reply(b"HTTP/1.1 401 No\r\ncontent-length: %d\r\n\r\n%s"
                            % (len(envelope), envelope)))  # fmt: skip
    err, _ = await failure(config(server))
    assert (err.status, err.code) == (401, "rate_limit_exceeded")
    assert "sk-" not in err.message


async def test_resume_is_a_get_with_the_sequence(server):
    from chat.upstream.client import resume_stream

    server.script(raw.chunked_answer("resumed"))
    state = TurnState()
    async for event in resume_stream("resp_1", starting_after=7, config=config(server)):
        state.apply(event)
    assert state.text == "resumed"
    assert (
        server.requests[0].line == b"GET /v1/responses/resp_1?stream=true&starting_after=7 HTTP/1.1"
    )


async def test_a_hostile_response_id_cannot_split_the_request(server):
    from chat.upstream.client import resume_stream

    server.script(raw.chunked_answer("safe"))
    events = resume_stream("r 1\r\nX-Evil: 1", starting_after=None, config=config(server))
    assert [e.type async for e in events][-1] == "response.completed"
    request = server.requests[0]
    # urlsplit drops CR, LF and tab (as the WHATWG URL rules do); the space is encoded.
    assert request.line == b"GET /v1/responses/r%201X-Evil:%201?stream=true HTTP/1.1"
    assert "x-evil" not in request.headers


async def test_a_gzip_bomb_is_inflated_a_bounded_piece_at_a_time(server, monkeypatch):
    import gzip

    filler = b": " + b"z" * 1_000_000 + b"\n\n"  # one comment, ~1 MB: ~1 KB compressed
    body = gzip.compress(filler * 5 + raw.answer("a"))
    pieces = []
    original = bare.WireBody._read_inflated

    async def spy(self):
        pieces.append(len(data := await original(self)))
        return data

    monkeypatch.setattr(bare.WireBody, "_read_inflated", spy)
    server.script(raw.reply(raw.head("200 OK", "content-encoding: gzip",
                                     f"content-length: {len(body)}") + body))  # fmt: skip
    assert await text_of(config(server)) == "a"
    assert max(pieces) <= 65_536 and sum(pieces) > 5_000_000


def test_on_uvloop():
    """The protocol, the pool and TLS-less keep-alive on uvloop, the production loop."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[list[str], list[int]]:
        async with RawServer() as server:
            server.script(*(raw.chunked_answer(f"u{i}") for i in range(3)))
            cfg = config(server)
            try:
                texts = [await text_of(cfg) for _ in range(3)]
            finally:
                await close_shared_client()
            return texts, [r.connection for r in server.requests]

    assert uvloop.run(scenario()) == (["u0", "u1", "u2"], [0, 0, 0])
