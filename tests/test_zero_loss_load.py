"""Zero loss under load: many people streaming several turns each while faults are injected
(streams dropped, stalled, refused with an error, Stops), all at once, through the real
sockets, registry, runner and database against the loopback upstream.

Afterwards every stored answer equals what the upstream sent, or is a prefix of it marked
with why it is not whole; every answer that reached the model has its one usage row; none is
left queued or streaming; and every tab shows what was stored.
"""

import asyncio
import random
import re

import orjson
import pytest
from asgiref.sync import sync_to_async

from chat.models import Conversation, Message, UsageRecord
from chat.turns import endpoint
from tests import fake_upstream as fake
from tests.relay_client import TabText, communicator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("fresh_registry"),
]
FINAL = 'id="turn-controls" class="turn-controls" data-live="false"'
PEOPLE, TURNS = 16, 5
STOP_ON_TURN = 1  # every third person stops their second answer mid-stream


def created(rid: str) -> list[dict]:
    where = {"item_id": f"msg_{rid}", "output_index": 0, "content_index": 0}
    response = {"id": rid, "object": "response", "status": "in_progress", "model": "fake-model",
                "output": [], "usage": None, "error": None}  # fmt: skip
    return [
        {"type": "response.created", "response": response},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"id": f"msg_{rid}", "type": "message", "role": "assistant", "content": []}},
        {"type": "response.content_part.added", **where,
         "part": {"type": "output_text", "text": "", "annotations": []}},
    ]  # fmt: skip


def partial(rid: str, text: str, end: str) -> fake.Reply:
    """A stream that sends `text` in a few deltas, then is cut or stalls."""
    where = {"item_id": f"msg_{rid}", "output_index": 0, "content_index": 0}
    deltas = [text[i : i + 5] for i in range(0, len(text), 5)]
    events = [{"type": "response.output_text.delta", **where, "delta": d} for d in deltas]
    return fake.events([*created(rid), *events], delay=0.01, end=end)


def script(seed: int) -> tuple[list[fake.Reply], dict[str, str]]:
    """Replies for every turn, faults mixed in; and what each response id streamed."""
    rng = random.Random(seed)
    replies, sent = [], {}
    for k in range(PEOPLE * TURNS):
        rid = f"resp_load_{k}"
        kind = rng.choices(["whole", "cut", "stall", "error"], weights=[6, 1, 1, 1])[0]
        text = f"answer {k}: " + " ".join(f"t{k}.{i}" for i in range(60))
        if kind == "whole":
            replies.append(fake.text_stream(text, chunk=6, delay=0.01, response_id=rid))
            sent[rid] = text
        elif kind == "error":  # not retryable: one reply, one request
            body = {"error": {"message": "Your input is too long.", "type": "invalid_request_error",
                              "code": "context_length_exceeded"}}  # fmt: skip
            replies.append(fake.http_error(400, body))
        else:
            replies.append(partial(rid, text[:40], "cut" if kind == "cut" else "stall"))
            sent[rid] = text[:40]
    return replies, sent


async def converse(person, index: int, shown: dict[int, str]) -> None:
    """One person: TURNS turns in a row in their conversation, maybe a Stop on one."""
    conversation = await sync_to_async(Conversation.objects.create)(owner=person, title="load")
    comm = await communicator(conversation.pk, person)
    assert (await comm.connect(timeout=30))[0]  # all at once: the default 1 s is too short
    tab = TabText()
    for turn in range(TURNS):
        await comm.send_to(text_data=orjson.dumps({"action": "send", "message": "go"}).decode())
        stop = index % 3 == 0 and turn == STOP_ON_TURN
        while True:
            frame = await comm.receive_from(timeout=30)
            tab.feed(frame)
            if stop and re.search(r"beforeend:#m\d+-i0-text-0", frame):  # text is streaming
                await comm.send_to(text_data='{"action": "stop"}')
                stop = False
            if FINAL in frame:
                break
    await comm.disconnect()
    answers = await sync_to_async(list)(
        Message.objects.filter(conversation=conversation, role="assistant").values_list("pk")
    )
    for (pk,) in answers:
        shown[pk] = tab.of(pk)


async def test_many_people_many_turns_with_faults_lose_nothing(
    upstream, django_user_model, settings
):
    settings.UPSTREAM_IDLE_TIMEOUT = 0.5
    settings.CHAT_TURNS_PER_MINUTE = 0
    endpoint.reset()
    replies, sent = script(seed=13)
    upstream.enqueue(*replies)
    people = [
        await sync_to_async(django_user_model.objects.create_user)(username=f"p{i}")
        for i in range(PEOPLE)
    ]
    shown: dict[int, str] = {}
    await asyncio.gather(*(converse(person, i, shown) for i, person in enumerate(people)))

    answers = await sync_to_async(list)(Message.objects.filter(role="assistant"))
    usage = await sync_to_async(list)(UsageRecord.objects.values_list("message_id", flat=True))
    assert len(answers) == PEOPLE * TURNS
    statuses = {a.status for a in answers}
    assert {"completed", "failed", "cancelled"} <= statuses  # the faults did happen
    for answer in answers:
        label = f"answer {answer.pk} ({answer.status}, {answer.response_id or 'no response'})"
        assert answer.status not in Message.LIVE_STATUSES, label
        assert answer.lease_owner == "" and answer.done_at is not None, label
        assert shown[answer.pk] == answer.text.strip(), label  # the tab shows what was stored
        if not answer.response_id:  # refused, or stopped, before any event: nothing ran
            assert (answer.status, answer.error_code, answer.text) in (
                ("failed", "context_length_exceeded", ""), ("cancelled", "", "")
            ), label  # fmt: skip
            assert usage.count(answer.pk) == 0, label
            continue
        streamed = sent[answer.response_id]
        assert usage.count(answer.pk) == 1, label
        if answer.status == "completed":
            assert answer.text == streamed, label
        else:  # a prefix of what came, and why it is not whole
            assert streamed.startswith(answer.text), label
            assert answer.status == "cancelled" or answer.error_code, label
