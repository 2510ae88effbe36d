"""The automatic title's database side: one read for the plan, one locked read for the store
(chat/history/title_store.py); runs on SQLite, and on PostgreSQL with DATABASE_URL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, Team
from chat.history import title_store
from chat.models import Conversation, Message, UsageRecord
from chat.turns.snapshot import TurnSnapshot
from chat.turns.state import TokenUsage
from tests.history_factories import conversation, exchange

pytestmark = pytest.mark.django_db


def statements(captured) -> list[str]:
    skipped = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT")
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(skipped)]


def usage() -> TurnSnapshot:
    tokens = TokenUsage(
        input_tokens=90, cached_tokens=0, output_tokens=6, reasoning_tokens=0, total_tokens=96
    )
    return TurnSnapshot(status="completed", text="Eggs", items=[], model="gpt-5", events=4,
                        usage=tokens)  # fmt: skip


def test_the_plan_is_one_read_and_only_after_the_first_completed_answer(user):
    convo = conversation(user)
    exchange(convo, "first question", "failed answer", status="failed")
    _, first = exchange(convo, "second question", "the first completed answer")
    _, later = exchange(convo, "third question", "a later answer")
    with CaptureQueriesContext(connection) as captured:
        plan, settled = title_store.read_plan(convo.pk, first.pk, "gpt-5")
    assert len(statements(captured)) == 1
    # The question is the first one before the answer (what the old ORM reads chose too).
    assert plan == title_store.TitlePlan(
        convo.pk, "first question", "the first completed answer", "gpt-5"
    )
    assert settled
    assert title_store.read_plan(convo.pk, later.pk, "gpt-5") == (None, True)
    assert title_store.read_plan(convo.pk + 1000, first.pk, "gpt-5") == (None, False)
    unanswered = conversation(user)
    _, failed = exchange(unanswered, "q", "broke", status="failed")
    assert title_store.read_plan(unanswered.pk, failed.pk, "gpt-5") == (None, False)
    Conversation.objects.filter(pk=convo.pk).update(title_by_person=True)
    assert title_store.read_plan(convo.pk, first.pk, "gpt-5") == (None, True)


def test_the_store_charges_the_request_and_tells_everyone_who_may_see_it(user, other_user):
    team = Team.objects.create(name="Ops")
    Membership.objects.create(team=team, user=user)
    Membership.objects.create(team=team, user=other_user)
    convo = conversation(user, "first words", shared_with=team)
    _, answer = exchange(convo, "q", "a")
    plan, _ = title_store.read_plan(convo.pk, answer.pk, "gpt-5")
    with CaptureQueriesContext(connection) as captured:
        stored = title_store.store(plan, title="Boiling eggs", fallback="q", usage=usage(),
                                   input_chars=300)  # fmt: skip
    # the locked row with the ledger's names, prices, the ledger row, the title, the team
    assert len(statements(captured)) == 5
    assert stored.conversation.title == "Boiling eggs"
    assert stored.conversation.owner_id == user.pk and stored.conversation.pk == convo.pk
    assert stored.watchers == sorted([user.pk, other_user.pk])
    convo.refresh_from_db()
    assert convo.title == "Boiling eggs" and not convo.title_by_person
    row = UsageRecord.objects.get(conversation=convo)
    assert (row.message_id, row.username, row.team_name, row.total_tokens) == (
        None, user.username, "Ops", 96,
    )  # fmt: skip
    assert row.conversation_title == "first words"  # the title when the request was made


def test_without_a_model_title_the_stored_one_stays_else_the_fallback(user):
    named = conversation(user, "first words")
    _, answer = exchange(named, "q", "a")
    plan, _ = title_store.read_plan(named.pk, answer.pk, "gpt-5")
    stored = title_store.store(plan, title="", fallback="ignored")
    assert stored.conversation.title == "first words"  # told, unchanged
    assert not UsageRecord.objects.exists()
    bare = conversation(user)
    _, answer = exchange(bare, "q", "a")
    plan, _ = title_store.read_plan(bare.pk, answer.pk, "gpt-5")
    assert title_store.store(plan, title="", fallback="the  first   words").conversation.title == (
        "the first words"
    )
    assert Conversation.objects.get(pk=bare.pk).title == "the first words"


def test_a_persons_title_or_a_deleted_conversation_is_left_alone(user):
    convo = conversation(user)
    _, answer = exchange(convo, "q", "a")
    plan, _ = title_store.read_plan(convo.pk, answer.pk, "gpt-5")
    Conversation.objects.filter(pk=convo.pk).update(title="Mine", title_by_person=True)
    assert title_store.store(plan, title="Model's", fallback="q", usage=usage()) is None
    assert Conversation.objects.get(pk=convo.pk).title == "Mine"
    assert UsageRecord.objects.count() == 1  # the request ran: it is charged all the same
    Message.objects.filter(conversation=convo).delete()
    convo.delete()
    assert title_store.store(plan, title="Model's", fallback="q", usage=usage()) is None
    assert UsageRecord.objects.count() == 1
