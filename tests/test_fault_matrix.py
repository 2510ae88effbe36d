"""The upstream fault matrix, end to end: a person's socket, the real registry and runner, the
real database and the loopback fake upstream, while another person streams at the same time.

Each row says what the person sees (the stored end rendered in their tab), what is stored
(status, error code, text, usage row), and the test checks that the other person's stream
kept flowing (frames kept coming, their answer stored whole). The client-level details of
each fault (retry counts, timeouts, framing) are tested in tests/test_upstream_client.py;
Stop races, kill -9, SIGTERM, Redis and database faults in tests/test_turn_end.py and
tests/test_multiprocess.py.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import pytest
from asgiref.sync import sync_to_async

from chat.models import Conversation, Message, UsageRecord
from chat.turns import endpoint
from tests import fake_upstream as fake
from tests.live_server import free_port
from tests.relay_client import TabText, communicator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
    pytest.mark.usefixtures("fresh_registry"),
]
FINAL = 'id="turn-controls" class="turn-controls" data-live="false"'
FAILED_BOX = "The answer failed."
RETRY = 'name="action" value="retry"'
# Another person's stream, running through every fault: 60 frames over ~1.2 s.
BYSTANDER_TEXT = "".join(f"w{i:02d} " for i in range(60))
# A frozen event loop would show here; generous, as the machine is shared (the issue measured
# freezes of 8.8 and 13.8 s).
MAX_BYSTANDER_GAP = 2.0
SECRET = "sk-live-SECRET-0123456789"


def response(status: str, **extra) -> dict:
    return {"id": "resp_fault", "object": "response", "status": status, "model": "fake-model",
            "output": [], "usage": None, "error": None, "incomplete_details": None, **extra}  # fmt: skip


USAGE = {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12,
         "input_tokens_details": {"cached_tokens": 0},
         "output_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip


def opening(text: str = "") -> list[dict]:
    """response.created, a message item and (optionally) one text delta."""
    where = {"item_id": "msg_f", "output_index": 0, "content_index": 0}
    events = [
        {"type": "response.created", "response": response("in_progress")},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": "msg_f", "type": "message", "role": "assistant", "content": []}},
        {"type": "response.content_part.added", **where,
         "part": {"type": "output_text", "text": "", "annotations": []}},
    ]  # fmt: skip
    if text:
        events.append({"type": "response.output_text.delta", **where, "delta": text})
    return events


def error_body(code: str | None, message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


@dataclass
class Fault:
    name: str
    replies: Callable[[], list[fake.Reply]]
    status: str
    code: str = ""
    text: str | None = ""  # None: what the upstream sent, checked by the row's own `sent`
    usage: str | None = None  # "reported", "estimated" or None (no row: nothing ran)
    seen: tuple[str, ...] = ()  # in the person's tab once the turn ended
    settings: dict = field(default_factory=dict)
    bystander: bool = True
    sent: str = ""  # the text the upstream streamed, for text=None rows
    requests: int = 1  # upstream requests the turn made (retries included)


def http(status: int, code: str | None, message: str, **headers: str) -> Callable[[], list]:
    return lambda: [fake.http_error(status, error_body(code, message), headers=headers or None)]


BIG = "y" * 5_000_000
TINY_DELTAS = "".join(chr(97 + i % 26) for i in range(100_000))

# fmt: off
FAULTS = [
    Fault("upstream refused", lambda: [], "failed", "connect", seen=(FAILED_BOX, RETRY),
          bystander=False, requests=0),
    Fault("slow first event, within the deadline",
          lambda: [fake.Reply("stream", frames=lambda: [b": wait\n\n"] * 3 + [
              fake._sse(e) for e in fake_completion("Late but fine.")], delay=0.25)],
          "completed", text="Late but fine.", usage="reported",
          settings={"UPSTREAM_FIRST_EVENT_TIMEOUT": 2.0}),
    Fault("no first event before the deadline", lambda: [fake.events([], end="stall")],
          "failed", "first_event_timeout", seen=(FAILED_BOX, RETRY),
          settings={"UPSTREAM_FIRST_EVENT_TIMEOUT": 0.5}),
    Fault("stall mid-stream", lambda: [fake.events(opening("so far"), end="stall")],
          "failed", "idle_timeout", text="so far", usage="estimated",
          seen=(FAILED_BOX, "so far", RETRY), settings={"UPSTREAM_IDLE_TIMEOUT": 0.5}),
    Fault("dropped mid-stream", lambda: [fake.events(opening("half a"), end="cut")],
          "failed", "stream_cut", text="half a", usage="estimated",
          seen=(FAILED_BOX, "half a", RETRY)),
    Fault("401", http(401, "invalid_api_key", "Incorrect API key provided"),
          "failed", "invalid_api_key", seen=(FAILED_BOX, RETRY)),
    Fault("403", http(403, "unsupported_country_region_territory", "Country not supported"),
          "failed", "unsupported_country_region_territory", seen=(FAILED_BOX,)),
    Fault("404", http(404, "model_not_found", "The model `x` does not exist"),
          "failed", "model_not_found", seen=(FAILED_BOX,)),
    Fault("429 with retry-after, then an answer",
          lambda: [*http(429, "rate_limit_exceeded", "Slow down", **{"retry-after": "0"})(),
                   fake.text_stream("After the wait.", delay=0)],
          "completed", text="After the wait.", usage="reported", requests=2),
    Fault("429 without retry-after, then an answer",
          lambda: [*http(429, "rate_limit_exceeded", "Slow down")(),
                   fake.text_stream("After backing off.", delay=0)],
          "completed", text="After backing off.", usage="reported", requests=2),
    Fault("429 asking for longer than we wait",
          http(429, "rate_limit_exceeded", "Slow down", **{"retry-after": "3600"}),
          "failed", "rate_limit_exceeded", seen=(FAILED_BOX, RETRY)),
    Fault("500 on every attempt",
          lambda: [fake.http_error(500, error_body("server_error", "boom"))] * 3,
          "failed", "server_error", seen=(FAILED_BOX, RETRY), requests=3),
    Fault("503, then an answer",
          lambda: [*http(503, "server_is_overloaded", "Overloaded", **{"retry-after": "0"})(),
                   fake.text_stream("Back again.", delay=0)],
          "completed", text="Back again.", usage="reported", requests=2),
    Fault("malformed SSE among good events",
          lambda: [fake.events([*opening("good "), *["data: {not json\n\n"] * 50,
                                *fake_completion("good text", opened=True)])],
          "completed", text="good text", usage="reported"),
    Fault("nested error, then response.failed (recorded)",
          lambda: [fake.jsonl_file("gpt5_error_insufficient_quota_stream.jsonl")],
          "failed", "insufficient_quota", usage="estimated", seen=(FAILED_BOX,)),
    Fault("response.failed",
          lambda: [fake.events([*opening("partial "), {"type": "response.failed", "response":
              response("failed", error={"code": "server_error", "message": "The model crashed"})}])],
          "failed", "server_error", text="partial ", usage="estimated", seen=(FAILED_BOX, "partial")),
    Fault("response.incomplete",
          lambda: [fake.events([*opening("cut short"), {"type": "response.incomplete", "response":
              response("incomplete", incomplete_details={"reason": "max_output_tokens"},
                       usage=USAGE)}])],
          "incomplete", text="cut short", usage="reported",
          seen=("The answer is incomplete", "length limit", RETRY)),
    Fault("a 5 MB delta", lambda: [prerendered(BIG, chunk=len(BIG))],
          "completed", text=None, sent=BIG, usage="reported"),
    Fault("100 000 one-character deltas", lambda: [prerendered(TINY_DELTAS, chunk=1)],
          "completed", text=None, sent=TINY_DELTAS, usage="reported"),
]
# fmt: on


def prerendered(text: str, *, chunk: int) -> fake.Reply:
    """A whole answer rendered before the turn starts: the fake upstream runs in a thread of
    this process, and rendering 100 000 frames there at request time would hold the GIL and
    stall everyone's stream, ours included (a real upstream is another process)."""
    frames = b"".join(
        f() if callable(f) else f
        for f in fake.text_stream(text, chunk=chunk, delay=0, response_id="resp_big").frames()
    )
    return fake.Reply("stream", frames=lambda: [frames])


def fake_completion(text: str, *, opened: bool = False) -> list[dict]:
    """A whole answer of one delta (or just its delta and end, after opening())."""
    where = {"item_id": "msg_f", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": text, "annotations": []}
    item = {"id": "msg_f", "type": "message", "role": "assistant", "content": [part]}
    rest = [
        {"type": "response.output_text.done", **where, "text": text},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed",
         "response": response("completed", output=[item], usage=USAGE)},
    ]  # fmt: skip
    return rest if opened else [*opening(text), *rest]


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="victim")  # no password: no hashing


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bystander")


class Tab:
    """A person's open conversation: their socket, and every frame with when it arrived."""

    def __init__(self, comm) -> None:
        self.comm = comm
        self.frames: list[tuple[float, str]] = []

    async def read_until_final(self, wait: float = 30) -> str:
        while True:
            frame = await self.comm.receive_from(timeout=wait)
            self.frames.append((time.monotonic(), frame))
            if FINAL in frame:
                return frame

    def gaps(self) -> float:
        times = [t for t, _ in self.frames]
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


async def open_tab(user, title: str) -> tuple[Tab, Conversation]:
    conversation = await sync_to_async(Conversation.objects.create)(owner=user, title=title)
    comm = await communicator(conversation.pk, user)
    assert (await comm.connect())[0]
    return Tab(comm), conversation


async def send(tab: Tab, text: str) -> None:
    await tab.comm.send_to(text_data=orjson.dumps({"action": "send", "message": text}).decode())


async def requests_reach(upstream, n: int) -> None:
    """The fake answers requests in arrival order: wait until the earlier one took its reply."""
    for _ in range(2000):
        if len(upstream.requests) >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"upstream saw {len(upstream.requests)} requests, wanted {n}")


@sync_to_async
def stored_answer(conversation) -> tuple[Message, list[UsageRecord]]:
    answer = Message.objects.filter(conversation=conversation, role="assistant").latest("id")
    return answer, list(UsageRecord.objects.filter(message=answer))


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
async def test_fault(fault: Fault, upstream, user, other_user, settings):
    for name, value in fault.settings.items():
        setattr(settings, name, value)
    if fault.name == "upstream refused":
        settings.OPENAI_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    endpoint.reset()
    replies = fault.replies()  # rendered before anyone streams
    victim, victim_conversation = await open_tab(user, "victim")
    bystander, bystander_conversation = await open_tab(other_user, "bystander")
    if fault.bystander:
        upstream.enqueue(fake.text_stream(BYSTANDER_TEXT, chunk=4, delay=0.02))
        await send(bystander, "keep talking")
        await requests_reach(upstream, 1)
    before = len(upstream.requests)
    upstream.enqueue(*replies)
    await send(victim, "go")
    reads = [victim.read_until_final()]
    if fault.bystander:
        reads.append(bystander.read_until_final())
    final, *_ = await asyncio.gather(*reads)

    # What is stored.
    answer, usage = await stored_answer(victim_conversation)
    expected_text = fault.sent if fault.text is None else fault.text
    assert (answer.status, answer.error_code) == (fault.status, fault.code)
    assert answer.lease_owner == "" and answer.done_at is not None
    if answer.text != expected_text:
        # Anything not kept whole must say why (bounded upstream values: a warning).
        assert answer.warnings and expected_text.startswith(answer.text), answer.warnings
    if fault.usage is None:
        assert usage == []
    else:
        assert len(usage) == 1 and usage[0].estimated == (fault.usage == "estimated")
    assert len(upstream.requests) - before == fault.requests

    # What the person sees: the stored end, rendered in their tab.
    for words in fault.seen:
        assert words in final, (words, final[:2000])
    tab = TabText()
    for _, frame in victim.frames:
        tab.feed(frame)
    assert tab.of(answer.pk) == answer.text.strip()
    if fault.status == "completed":
        assert FAILED_BOX not in final and RETRY not in final

    # The other person's stream kept flowing, and was stored whole.
    if fault.bystander:
        other, other_usage = await stored_answer(bystander_conversation)
        assert (other.status, other.text) == ("completed", BYSTANDER_TEXT)
        assert len(other_usage) == 1
        assert len(bystander.frames) >= 10  # streamed, not one lump at the end
        assert bystander.gaps() < MAX_BYSTANDER_GAP, f"frames stopped {bystander.gaps():.1f} s"
    await victim.comm.disconnect()
    await bystander.comm.disconnect()


async def test_an_upstream_error_body_never_reaches_the_page(upstream, user):
    tab, conversation = await open_tab(user, "secret")
    echoed = f"Incorrect API key provided: Authorization: Bearer {SECRET}"
    upstream.enqueue(fake.http_error(401, error_body("invalid_api_key", echoed)))
    await send(tab, "go")
    final = await tab.read_until_final()
    answer, _ = await stored_answer(conversation)
    assert answer.status == "failed"
    assert SECRET not in final and SECRET not in answer.error_message
    await tab.comm.disconnect()
