"""The httpx path's stream body and its one-timer watchdog (chat.upstream.body), exactly: which
answers are an event stream, which bytes come straight from aiohttp's reader, and when the
watchdog re-arms or aborts the read. The watchdog runs on a hand-driven clock."""

import asyncio
import gzip
from types import SimpleNamespace

import aiohttp
import httpx
import pytest

from chat.upstream import body as body_module
from chat.upstream import errors
from chat.upstream.body import Body, NotAnEventStream, StreamExpired, Watchdog
from chat.upstream.client import UpstreamConfig, close_shared_client, shared_client, stream_response
from chat.upstream.errors import UpstreamError
from tests import fake_upstream as fake

pytestmark = pytest.mark.timeout(30)


class Timer:
    def __init__(self, when: float, callback) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """The two loop methods the watchdog uses, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback) -> Timer:
        self.timers.append(Timer(when, callback))
        return self.timers[-1]

    def pending(self) -> list[float]:
        return [t.when for t in self.timers if not t.cancelled]

    def advance(self, to: float) -> None:
        """Run the timers due by `to`, earliest first, as the loop would."""
        self.now = to
        for _ in range(100):  # a timer re-armed for the time it fired at would spin forever
            due = sorted((t for t in self.timers if not t.cancelled and t.when <= to), key=when)
            if not due:
                return
            due[0].cancelled = True  # a fired handle is done
            due[0].callback()
        raise AssertionError("the watchdog keeps re-arming for a time already due")


def when(timer: Timer) -> float:
    return timer.when


def watchdog(first: float = 10.0, idle: float = 3.0) -> tuple[Clock, Watchdog, list[float]]:
    clock, aborts = Clock(), []
    dog = Watchdog(clock, first, idle, lambda: aborts.append(clock.now))
    return clock, dog, aborts


def test_before_the_first_event_the_first_deadline_holds():
    clock, dog, aborts = watchdog()
    assert (dog.last, dog.kind, dog.deadline(), clock.pending()) == (
        None,
        errors.FIRST_EVENT_TIMEOUT,
        10.0,
        [10.0],
    )
    clock.advance(9.99)
    assert aborts == []
    clock.advance(10.0)
    assert aborts == [10.0]
    assert clock.pending() == []


def test_the_first_event_switches_to_the_idle_deadline_even_if_sooner():
    clock, dog, aborts = watchdog(first=10.0, idle=3.0)
    clock.now = 2.0
    dog.first_event(2.0)
    assert (dog.last, dog.kind, dog.deadline(), clock.pending()) == (
        2.0,
        errors.IDLE_TIMEOUT,
        5.0,
        [5.0],
    )
    clock.advance(5.0)
    assert aborts == [5.0]


def test_the_idle_deadline_may_come_after_the_first_one():
    clock, dog, aborts = watchdog(first=1.0, idle=3.0)
    clock.now = 0.5
    dog.first_event(0.5)
    clock.advance(3.4)
    assert aborts == []
    clock.advance(3.5)
    assert aborts == [3.5]


def test_events_since_the_timer_was_set_move_it_instead_of_aborting():
    clock, dog, aborts = watchdog(first=10.0, idle=3.0)
    dog.first_event(0.0)
    clock.now, dog.last = 2.0, 2.0  # what the reader stores for each later event
    clock.advance(3.0)
    assert (aborts, clock.pending()) == ([], [5.0])
    clock.now, dog.last = 4.5, 4.5
    clock.advance(5.0)
    assert (aborts, clock.pending()) == ([], [7.5])
    clock.advance(7.5)
    assert aborts == [7.5]


def test_a_stopped_watchdog_never_aborts():
    clock, dog, aborts = watchdog()
    dog.stop()
    dog.stop()  # twice is fine
    clock.advance(100.0)
    assert (aborts, clock.pending()) == ([], [])
    dog.first_event(100.0)
    dog.stop()
    clock.advance(200.0)
    assert aborts == []


def test_stop_after_an_abort_cancels_nothing_more():
    clock, dog, aborts = watchdog(first=1.0)
    clock.advance(1.0)
    fired = clock.timers[-1]
    fired.cancelled = False  # would a later stop() touch the handle that already fired?
    dog.stop()
    assert not fired.cancelled and aborts == [1.0]


# --- which answers are an event stream ---


def answer(headers: dict[str, str], content: bytes = b"") -> httpx.Response:
    return httpx.Response(200, headers=headers, content=content)


@pytest.mark.parametrize(
    ("headers", "seen"),
    [
        ({}, "'no content type'"),
        ({"content-type": "application/json; charset=utf-8"}, "'application/json'"),
        ({"content-type": ""}, "'no content type'"),
    ],
)
async def test_an_answer_that_is_not_an_event_stream_says_what_it_was(headers, seen):
    with pytest.raises(NotAnEventStream) as caught:
        Body(answer(headers), asyncio.get_running_loop(), 1.0, 1.0)
    assert str(caught.value) == f"expected text/event-stream, got {seen}"


async def test_a_response_not_from_aiohttp_is_read_through_httpx():
    loop = asyncio.get_running_loop()
    response = answer({"Content-Type": "text/event-stream; charset=utf-8"}, b"data: 1\n\n")
    body = Body(response, loop, loop.time() + 5, 5.0)
    assert body.read == body._read_httpx
    assert (await body.read(), await body.read()) == (b"data: 1\n\n", b"")
    await body.aclose()


def test_a_foreign_object_where_aiohttp_keeps_its_reader_is_not_read():
    for content in (object(), None, b"data"):
        inner = SimpleNamespace(_aiohttp_response=SimpleNamespace(content=content))
        response = SimpleNamespace(headers=httpx.Headers(), stream=SimpleNamespace(_stream=inner))
        assert body_module._aiohttp_reader(response) is None
    # A stream that wraps nothing (not httpx's bound stream around a transport's).
    bare_stream = SimpleNamespace(headers=httpx.Headers(), stream=object())
    assert body_module._aiohttp_reader(bare_stream) is None


async def test_aiohttp_reader_is_taken_only_for_identity_bodies():
    reader = aiohttp.StreamReader(SimpleNamespace(_reading_paused=False), 2**16)
    stream = SimpleNamespace(
        _stream=SimpleNamespace(_aiohttp_response=SimpleNamespace(content=reader))
    )
    for encoding, taken in [(None, True), (" Identity ", True), ("gzip", False), ("br", False)]:
        headers = httpx.Headers({} if encoding is None else {"content-encoding": encoding})
        found = body_module._aiohttp_reader(SimpleNamespace(headers=headers, stream=stream))
        assert (found is reader) == taken, encoding


# --- on a real connection through httpx-aiohttp ---


@pytest.fixture
def server():
    with fake.FakeUpstream() as upstream:
        yield upstream


FRAMES = [
    {"type": "response.created", "sequence_number": 0, "response": {"id": "r1"}},
    {"type": "response.output_text.delta", "sequence_number": 1, "delta": "ab"},
    {"type": "response.completed", "sequence_number": 2, "response": {"status": "completed"}},
]


async def read_through_httpx(cfg: UpstreamConfig) -> list[str]:
    seen: list[str] = []
    try:
        events = stream_response({"model": "m"}, config=cfg, client=shared_client(cfg))
        async for event in events:
            seen.append(event.type)
    finally:
        await close_shared_client()
    return seen


async def stall_failure(cfg: UpstreamConfig) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await asyncio.wait_for(read_through_httpx(cfg), 5)  # a read never aborted hangs
    return caught.value


async def test_a_stall_on_aiohttps_reader_is_an_idle_timeout(server):
    server.enqueue(fake.events(FRAMES[:2], end="stall"))
    cfg = UpstreamConfig(server.base_url, idle_timeout=0.3, max_retries=0)
    err = await stall_failure(cfg)
    assert (err.kind, err.message) == (
        errors.IDLE_TIMEOUT,
        "The model server stopped sending for 0.3 s.",
    )


async def test_silence_on_aiohttps_reader_is_a_first_event_timeout(server):
    server.enqueue(fake.events([], end="stall"))
    cfg = UpstreamConfig(server.base_url, first_event_timeout=0.3, max_retries=0)
    err = await stall_failure(cfg)
    assert (err.kind, err.message) == (
        errors.FIRST_EVENT_TIMEOUT,
        "The model server sent nothing for 0.3 s.",
    )


async def test_a_gzip_stream_through_httpx_is_inflated_by_httpx(server):
    raw = b"".join(fake.events(FRAMES).frames())
    server.enqueue(
        fake.Reply(
            "stream", headers={"content-encoding": "gzip"}, frames=lambda: [gzip.compress(raw)]
        )
    )
    cfg = UpstreamConfig(server.base_url, max_retries=0)
    assert await read_through_httpx(cfg) == [f["type"] for f in FRAMES]


def test_stream_expired_is_not_a_timeout_error():
    """A TimeoutError would be taken for asyncio's own, and a cancellation for a Stop."""
    assert not issubclass(StreamExpired, (TimeoutError, asyncio.CancelledError))
