"""Automatic titles: a short upstream request after the first answer, in the usage ledger,
with the first words as the fallback; a person's title is never replaced."""

import json

import pytest
from asgiref.sync import sync_to_async

from chat.history import titles
from chat.models import Conversation, Message, UsageRecord
from chat.turns import registry as registry_module
from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake
from tests.history_factories import conversation, exchange
from tests.relay_client import communicator, receive_until

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = "How long should I boil an egg for a soft yolk in the morning please"


@pytest.fixture(autouse=True)
async def titles_on(settings):
    settings.CHAT_AUTO_TITLES = True
    registry_module._registry = None
    yield
    registry_module._registry = None
    await close_shared_client()


def first_exchange(user, title: str = "", **fields):
    convo = conversation(user, title, **fields)
    _, answer = exchange(convo, QUESTION, "Six and a half minutes.")
    return convo, answer


async def test_title_from_the_model_recorded_in_the_ledger(upstream, user):
    convo, answer = await sync_to_async(first_exchange)(user, "How long should I boil an egg…")
    upstream.enqueue(fake.text_stream('"Soft-Boiled Egg Timing."'))
    await titles.after_turn(convo.pk, answer.pk)
    await sync_to_async(convo.refresh_from_db)()
    assert convo.title == "Soft-Boiled Egg Timing" and not convo.title_by_person
    (request,) = upstream.requests
    body = request["json"]
    assert body["max_output_tokens"] == titles.MAX_OUTPUT_TOKENS and body["store"] is False
    assert QUESTION in body["input"][0]["content"]
    row = await sync_to_async(UsageRecord.objects.get)()
    assert row.conversation_id == convo.pk and row.message_id is None
    assert row.user_id == user.pk and row.total_tokens > 0


async def test_model_failure_keeps_the_first_words(upstream, user):
    convo, answer = await sync_to_async(first_exchange)(user)
    upstream.enqueue(fake.http_error(500, {"error": {"message": "boom"}}))
    upstream.enqueue(fake.http_error(500, {"error": {"message": "boom"}}))
    upstream.enqueue(fake.http_error(500, {"error": {"message": "boom"}}))
    await titles.after_turn(convo.pk, answer.pk)
    await sync_to_async(convo.refresh_from_db)()
    assert convo.title == titles.fallback(QUESTION)
    assert convo.title.startswith("How long should I boil an egg") and len(convo.title) <= 60


async def test_unusable_model_text_falls_back(upstream, user):
    convo, answer = await sync_to_async(first_exchange)(user, "First words title")
    upstream.enqueue(fake.text_stream(' "" ... '))
    await titles.after_turn(convo.pk, answer.pk)
    await sync_to_async(convo.refresh_from_db)()
    assert convo.title == "First words title"


async def test_a_persons_title_is_never_replaced(upstream, user):
    convo, answer = await sync_to_async(first_exchange)(user, "Mine", title_by_person=True)
    await titles.after_turn(convo.pk, answer.pk)
    await sync_to_async(convo.refresh_from_db)()
    assert convo.title == "Mine" and upstream.requests == []


async def test_only_after_the_first_answer(upstream, user):
    convo, _ = await sync_to_async(first_exchange)(user, "Kept")
    _, second = await sync_to_async(exchange)(convo, "again", "more")
    await titles.after_turn(convo.pk, second.pk)
    assert upstream.requests == []


def test_clean_titles():
    assert titles.clean("Title: **Egg timing**\nsecond line") == "Egg timing"
    assert titles.clean("  ...  ") == ""
    long = titles.clean("word " * 40)
    assert len(long) <= 60 and long.endswith("…")


async def test_a_real_turn_titles_its_conversation_in_the_open_tab(upstream, user):
    convo = await sync_to_async(Conversation.objects.create)(owner=user)
    upstream.enqueue(fake.text_stream("Six and a half minutes."), fake.text_stream("Egg Timing"))
    comm = await communicator(convo.pk, user)
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"action": "send", "message": QUESTION}))
    frames = await receive_until(comm, 'id="conversation-title"')
    assert "Egg Timing" in frames[-1]
    await comm.disconnect()
    await sync_to_async(convo.refresh_from_db)()
    assert convo.title == "Egg Timing"
    answer = await sync_to_async(Message.objects.get)(conversation=convo, role="assistant")
    rows = await sync_to_async(
        lambda: sorted(UsageRecord.objects.values_list("message_id", flat=True), key=str)
    )()
    assert rows == [answer.pk, None]


async def test_without_auto_titles_the_first_words_reach_open_tabs(upstream, user, settings):
    settings.CHAT_AUTO_TITLES = False
    convo = await sync_to_async(Conversation.objects.create)(owner=user)
    upstream.enqueue(fake.text_stream("Six and a half minutes."))
    comm = await communicator(convo.pk, user)
    assert (await comm.connect())[0]
    await comm.send_to(text_data=json.dumps({"action": "send", "message": QUESTION}))
    frames = await receive_until(comm, 'id="conversation-title"')
    await comm.disconnect()
    await sync_to_async(convo.refresh_from_db)()
    assert convo.title.startswith("How long should I boil") and convo.title in frames[-1]
    assert len(upstream.requests) == 1  # the answer only: no title request
    assert not await sync_to_async(UsageRecord.objects.filter(message__isnull=True).exists)()


async def test_a_titled_conversation_is_settled_so_later_turns_skip_the_reads(upstream, user):
    convo, answer = await sync_to_async(first_exchange)(user)
    upstream.enqueue(fake.text_stream("Egg Timing"))
    await titles.after_turn(convo.pk, answer.pk)
    assert titles.is_settled(convo.pk)
    _, second = await sync_to_async(exchange)(convo, "again", "more")
    await sync_to_async(Conversation.objects.filter(pk=convo.pk).update)(title="")
    await titles.after_turn(convo.pk, second.pk)  # settled: no read, no request, no title
    await sync_to_async(convo.refresh_from_db)()
    assert convo.title == "" and len(upstream.requests) == 1


async def test_no_completed_answer_yet_is_not_settled(upstream, user):
    convo = await sync_to_async(conversation)(user, "")
    _, failed = await sync_to_async(exchange)(convo, QUESTION, "", status="failed")
    await titles.after_turn(convo.pk, failed.pk)
    assert not titles.is_settled(convo.pk) and upstream.requests == []


def test_settled_conversations_are_bounded():
    titles._settled.clear()
    for pk in range(titles.MAX_SETTLED + 5):
        titles.settle(pk)
    assert len(titles._settled) == titles.MAX_SETTLED
    assert not titles.is_settled(0) and titles.is_settled(titles.MAX_SETTLED + 4)
