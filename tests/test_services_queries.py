"""The turn services' hand-written statements (chat/turns/plan.py, start.py, save.py,
takeover.py): the rows the ORM would write, the statements a turn sends, and the guarantees
(one turn at a time per conversation, leases) kept."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from chat import sql
from chat.models import Conversation, Message, UsageRecord
from chat.turns.plan import StartedTurn, TurnPlan, TurnRejected, plan_turn
from chat.turns.save import checkpoint_turn, finish_turn
from chat.turns.snapshot import TurnSnapshot
from chat.turns.start import start_turn
from chat.turns.state import TokenUsage
from chat.turns.takeover import interrupt_turn

ITEMS = [{"type": "message", "id": "msg_1", "parts": [{"kind": "output_text", "text": "Hi ü"}]}]


def snapshot(status: str = "completed", usage: bool = True, **extra) -> TurnSnapshot:
    values = {
        "text": "Hi ü",
        "items": ITEMS,
        "model": "answering-model",
        "response_id": "resp_1",
        "last_seq": 7,
        "warnings": ["w"],
        "events": 3,
        "usage": TokenUsage(input_tokens=5, output_tokens=2, total_tokens=7) if usage else None,
        "raw_usage": {"input_tokens": 5} if usage else None,
    }
    return TurnSnapshot(status=status, **{**values, **extra})


def fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def statements(captured: CaptureQueriesContext) -> list[str]:
    """What a call sent, without transaction control (BEGIN, savepoints in a test's atomic)."""
    skip = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(skip)]


def plan(user, conversation_id, text="What is 2 + 2?"):
    return plan_turn(user=user, conversation_id=conversation_id, text=text, model="m")


@pytest.mark.django_db
@pytest.mark.parametrize("existing", [True, False])
def test_a_turn_stores_what_the_orm_reads_back(user, existing):
    conversation_id = Conversation.objects.create(owner=user).pk if existing else None
    started = start_turn(plan=plan(user, conversation_id), lease_owner="me")
    conversation = Conversation.objects.get(owner=user)
    assert conversation.title == "What is 2 + 2?"
    assert started.conversation_id == conversation.pk
    question, answer = Message.objects.filter(conversation=conversation)
    assert (question.pk, answer.pk) == (started.user_message_id, started.assistant_message_id)
    assert (question.role, question.status, question.text) == (
        "user",
        "completed",
        "What is 2 + 2?",
    )
    assert (question.items, question.warnings, question.queued_at) == ([], [], None)
    assert (answer.role, answer.status, answer.model, answer.lease_owner) == (
        "assistant",
        "queued",
        "m",
        "me",
    )
    assert answer.lease_expires_at - answer.queued_at == timedelta(seconds=30)
    assert question.created_at <= answer.created_at and answer.queued_at <= answer.created_at

    assert checkpoint_turn(message_id=answer.pk, snapshot=snapshot("streaming"), lease_owner="me")
    answer.refresh_from_db()
    assert (answer.status, answer.text, answer.items, answer.warnings) == (
        "streaming",
        "Hi ü",
        ITEMS,
        ["w"],
    )

    stored = finish_turn(message_id=answer.pk, snapshot=snapshot(), input_chars=40)
    assert fields(stored) == fields(Message.objects.get(pk=answer.pk))
    assert (stored.status, stored.model, stored.lease_owner, stored.lease_expires_at) == (
        "completed",
        "answering-model",
        "",
        None,
    )
    assert stored.done_at is not None and stored.done_at.tzinfo is not None
    (record,) = stored.prefetched_usage
    assert fields(record) == fields(UsageRecord.objects.get())
    assert (record.message_id, record.conversation_id, record.user_id) == (
        answer.pk,
        conversation.pk,
        user.pk,
    )
    assert (record.input_tokens, record.total_tokens, record.raw) == (5, 7, {"input_tokens": 5})
    assert Conversation.objects.get().updated_at >= stored.done_at


@pytest.mark.django_db
def test_finish_keeps_the_requested_model_and_estimates_a_stopped_stream(user):
    started = start_turn(plan=plan(user, None), lease_owner="me")
    stopped = snapshot("cancelled", usage=False, model=None)
    stored = finish_turn(message_id=started.assistant_message_id, snapshot=stopped, input_chars=40)
    assert stored.model == "m" and stored.status == "cancelled"
    (record,) = stored.prefetched_usage
    assert (record.model, record.estimated, record.input_tokens, record.output_tokens) == (
        "m",
        True,
        10,
        1,
    )
    nothing = snapshot("failed", usage=False, events=0)
    second = start_turn(plan=plan(user, started.conversation_id), lease_owner="me")
    assert (
        finish_turn(message_id=second.assistant_message_id, snapshot=nothing)
    ).prefetched_usage == []
    assert UsageRecord.objects.count() == 1


@pytest.mark.django_db
def test_plan_reads_the_history_and_refuses_what_it_must(user, other_user):
    conversation = Conversation.objects.create(owner=user, title="kept")
    Message.objects.create(conversation=conversation, role="user", text="q1")
    Message.objects.create(conversation=conversation, role="assistant", text="Hi ü", items=ITEMS)
    Message.objects.create(conversation=conversation, role="assistant", text="", status="failed")
    assert plan(user, conversation.pk).input == [
        {"role": "user", "content": "q1"},
        {"type": "message", "role": "assistant", "content": "Hi ü"},  # from its items
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    with pytest.raises(TurnRejected, match="not found"):
        plan(other_user, conversation.pk)
    with pytest.raises(TurnRejected, match="not found"):
        plan(user, conversation.pk + 1000)
    start_turn(plan=plan(user, conversation.pk), lease_owner="me")
    assert Conversation.objects.get().title == "kept"  # a title is never replaced
    with pytest.raises(TurnRejected, match="still being written"):
        plan(user, conversation.pk)
    with pytest.raises(TurnRejected, match="still being written"):
        start_turn(plan=TurnPlan(user.pk, conversation.pk, "again", "m", []), lease_owner="x")
    with pytest.raises(Conversation.DoesNotExist):
        start_turn(plan=TurnPlan(user.pk, conversation.pk + 1000, "x", "m", []), lease_owner="x")


@pytest.mark.django_db
def test_checkpoint_only_while_the_turn_is_ours(user):
    started = start_turn(plan=plan(user, None), lease_owner="me")
    answer_id = started.assistant_message_id
    assert not checkpoint_turn(
        message_id=answer_id, snapshot=snapshot("streaming"), lease_owner="someone else"
    )
    assert Message.objects.get(pk=answer_id).text == ""
    # A final status in a checkpoint is stored as streaming: only finish_turn ends a turn.
    assert checkpoint_turn(message_id=answer_id, snapshot=snapshot(), lease_owner="me")
    assert Message.objects.get(pk=answer_id).status == "streaming"
    finish_turn(message_id=answer_id, snapshot=snapshot())
    assert not checkpoint_turn(
        message_id=answer_id, snapshot=snapshot("streaming"), lease_owner="me"
    )
    assert Message.objects.get(pk=answer_id).status == "completed"


@pytest.mark.django_db
def test_statements_a_turn_sends(user):
    """Each one costs the relay's thread CPU: keep them few (bench/dbcost.py)."""
    conversation = Conversation.objects.create(owner=user)
    Message.objects.create(conversation=conversation, role="user", text="q1")
    with CaptureQueriesContext(connection) as captured:
        turn = plan(user, conversation.pk)
    # SELECT history, SELECT budgets (none: no more), take two ids (chat/turns/ids.py)
    assert len(statements(captured)) == 3
    with CaptureQueriesContext(connection) as captured:
        started = start_turn(plan=turn, lease_owner="me")
    # UPDATE conversation, SELECT live, INSERT question and answer (its ids taken ahead, the
    # answer's parent is known: one statement)
    assert len(statements(captured)) == 3
    with CaptureQueriesContext(connection) as captured:
        checkpoint_turn(
            message_id=started.assistant_message_id,
            snapshot=snapshot("streaming"),
            lease_owner="me",
        )
    assert len(statements(captured)) == 1
    with CaptureQueriesContext(connection) as captured:
        finish_turn(message_id=started.assistant_message_id, snapshot=snapshot())
    # UPDATE answer, SELECT it back with the names the ledger keeps, UPDATE conversation; the
    # ledger: SELECT prices, INSERT
    assert len(statements(captured)) == 5
    with CaptureQueriesContext(connection) as captured:
        start_turn(plan=plan(user, None), lease_owner="me")
    # SELECT budgets, take two ids, INSERT conversation, INSERT question and answer
    assert len(statements(captured)) == 4


@pytest.mark.django_db
def test_inserts_without_returning_rows_fall_back_to_save(user, monkeypatch):
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    started = start_turn(plan=plan(user, None), lease_owner="me")
    question, answer = Message.objects.all()
    assert (question.pk, answer.pk) == (started.user_message_id, started.assistant_message_id)
    stored = finish_turn(message_id=answer.pk, snapshot=snapshot())
    assert stored.prefetched_usage[0].pk == UsageRecord.objects.get().pk


@pytest.mark.django_db(transaction=True)
def test_two_turns_started_at_once_in_a_conversation_only_one_wins(user, monkeypatch):
    """The first start holds the conversation's row (PostgreSQL) or the write lock (SQLite)
    while it writes; the second waits, then sees the first one's queued answer."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("the in-memory test database's shared cache fails lock waits at once")
    conversation = Conversation.objects.create(owner=user)
    turn = plan(user, conversation.pk)
    insert, first_claimed = sql.insert, threading.Event()

    def slow_insert(*objs):
        if threading.current_thread().name == "first" and isinstance(objs[0], Message):
            first_claimed.set()
            time.sleep(0.5)  # the second start arrives now, and must wait
        insert(*objs)

    monkeypatch.setattr(sql, "insert", slow_insert)
    outcome: dict[str, object] = {}

    def start(name: str) -> None:
        if name == "second":
            first_claimed.wait(5)
        began = time.monotonic()
        try:
            outcome[name] = start_turn(plan=turn, lease_owner=name)
        except Exception as exc:
            outcome[name] = exc
        finally:
            outcome[name + " waited"] = time.monotonic() - began
            connections.close_all()

    threads = [threading.Thread(target=start, args=(n,), name=n) for n in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert isinstance(outcome["first"], StartedTurn)
    assert isinstance(outcome["second"], TurnRejected), outcome["second"]
    assert outcome["second waited"] > 0.3
    assert Message.objects.filter(status="queued").count() == 1


@pytest.mark.django_db
def test_sweeper_ends_an_expired_turn_as_interrupted_with_its_checkpoint(user):
    """In-process: the path a crashed runner's turn takes (tests/test_multiprocess.py does it
    with a real kill -9)."""
    from datetime import timedelta

    from django.utils import timezone

    from chat.turns.sweeper import sweep_expired

    started = start_turn(plan=plan(user, None), lease_owner="dead-process")
    answer_id = started.assistant_message_id
    partial = snapshot(status="streaming", usage=False, events=1, first_event_at=timezone.now())
    assert checkpoint_turn(message_id=answer_id, snapshot=partial, lease_owner="dead-process")
    assert sweep_expired() == ([], [])  # the lease still runs: nothing to do
    Message.objects.filter(pk=answer_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    ended, claimed = sweep_expired()
    assert [m.pk for m in ended] == [answer_id] and claimed == []
    stored = Message.objects.get(pk=answer_id)
    assert (stored.status, stored.text, stored.lease_owner) == ("interrupted", "Hi ü", "")
    (usage,) = UsageRecord.objects.filter(message_id=answer_id)
    assert usage.estimated and usage.output_tokens > 0
    assert interrupt_turn(message_id=answer_id) is None  # already ended: left alone


@pytest.mark.django_db
@pytest.mark.parametrize("with_ids", [False, True])
def test_inserted_rows_are_left_as_the_orm_leaves_saved_ones(user, with_ids):
    """Ids set (or kept), no longer `adding`, bound to the database; values made storable."""
    conversation = Conversation.objects.create(owner=user)
    rows = [
        Message(conversation=conversation, role="user", text="a\x00b", model="m" * 300),
        Message(conversation=conversation, role="assistant", text="c"),
    ]
    if with_ids:
        top = Message.objects.create(conversation=conversation, role="user").pk
        rows[0].pk, rows[1].pk = top + 10, top + 11
    sql.insert(*rows)
    assert rows[0].pk < rows[1].pk and (not with_ids or rows[1].pk == rows[0].pk + 1)
    for row in rows:
        assert row._state.adding is False and row._state.db == "default"
    stored = Message.objects.get(pk=rows[0].pk)
    assert (stored.text, stored.model) == ("ab", "m" * 200)  # NUL dropped, cut to max_length


@pytest.mark.django_db
def test_rows_with_and_without_ids_are_refused_in_one_insert(user):
    conversation = Conversation.objects.create(owner=user)
    with pytest.raises(AssertionError) as refused:
        sql.insert(
            Message(conversation=conversation, role="user", pk=10_000),
            Message(conversation=conversation, role="user"),
        )
    assert str(refused.value) == "all rows with ids, or none"
