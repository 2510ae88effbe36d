"""Critical behaviour that hand-made mutants once broke without failing a test (issue 13).

Each test names the mutant it kills; RELIABILITY.md lists how each was applied and seen failing.
Database faults are injected with real triggers, not mocks.
"""

import asyncio
import contextlib
import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from chat.models import Conversation, Message, UsageRecord
from chat.turns import endpoint
from chat.turns import registry as registry_module
from chat.turns.plan import plan_turn
from chat.turns.runner import TurnRunner
from chat.turns.save import finish_turn
from chat.turns.snapshot import TurnSnapshot
from chat.turns.start import start_turn
from chat.turns.state import TokenUsage
from chat.turns.sweeper import sweep_expired
from chat.turns.takeover import claim_turn
from tests import fake_upstream as fake
from tests.relay_client import APPEND, communicator, receive_until, send

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("fresh_registry"),
]
FINAL = 'id="turn-controls" class="turn-controls" data-live="false"'


# --- database triggers: a failing table, and a count of writes ---


def _trigger_sql(name: str, when: str, table: str, body_sqlite: str, body_pg: str) -> list[str]:
    if connection.vendor == "postgresql":
        return [
            f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN {body_pg} RETURN NEW; END $$ "
            "LANGUAGE plpgsql",
            f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()",
        ]
    return [f"CREATE TRIGGER {name} {when} ON {table} BEGIN {body_sqlite} END"]


def _drop_sql(name: str, table: str) -> list[str]:
    if connection.vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
    return [f"DROP TRIGGER IF EXISTS {name}"]


def _run(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@contextlib.contextmanager
def usage_ledger_refuses_inserts():
    table = UsageRecord._meta.db_table
    _run(
        _trigger_sql(
            "matrix_ledger_down", "BEFORE INSERT", table,
            "SELECT RAISE(ABORT, 'usage ledger unavailable');",
            "RAISE EXCEPTION 'usage ledger unavailable';",
        )
    )  # fmt: skip
    try:
        yield
    finally:
        _run(_drop_sql("matrix_ledger_down", table))


def install_write_counter() -> None:
    """Counts every UPDATE of a message row (a checkpoint or the final save) in a side table."""
    _run(["CREATE TABLE matrix_writes (n INTEGER)", "INSERT INTO matrix_writes VALUES (0)"])
    _run(
        _trigger_sql(
            "matrix_count_writes", "AFTER UPDATE", Message._meta.db_table,
            "UPDATE matrix_writes SET n = n + 1;",
            "UPDATE matrix_writes SET n = n + 1;",
        )
    )  # fmt: skip


def counted_writes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM matrix_writes")
        return cursor.fetchone()[0]


def remove_write_counter() -> None:
    _run([*_drop_sql("matrix_count_writes", Message._meta.db_table), "DROP TABLE matrix_writes"])


def plan_for(user, conversation_id=None, text="go"):
    return plan_turn(user=user, conversation_id=conversation_id, text=text, model="m")


# --- mutant: finish_turn without @transaction.atomic (a finished answer with no usage row) ---


def test_the_final_save_is_all_or_nothing(user):
    started = start_turn(plan=plan_for(user), lease_owner="runner-1")
    final = TurnSnapshot(
        status="completed", text="All done.", items=[], events=5,
        usage=TokenUsage(input_tokens=3, output_tokens=4, total_tokens=7),
    )  # fmt: skip
    with usage_ledger_refuses_inserts(), pytest.raises(Exception, match="usage ledger"):
        finish_turn(message_id=started.assistant_message_id, snapshot=final)
    answer = Message.objects.get(pk=started.assistant_message_id)
    assert answer.status == "queued" and answer.text == ""  # not "completed" without its usage
    assert not UsageRecord.objects.exists()
    # With the ledger back, the same save goes through whole.
    finish_turn(message_id=started.assistant_message_id, snapshot=final)
    answer.refresh_from_db()
    assert (answer.status, answer.text) == ("completed", "All done.")
    assert UsageRecord.objects.get(message=answer).total_tokens == 7


# --- mutant: a checkpoint write on every event ---


async def test_partial_text_is_checkpointed_rarely_not_per_event(upstream, user, settings):
    settings.CHAT_CHECKPOINT_INTERVAL = 30.0
    upstream.enqueue(fake.text_stream("ab" * 400, chunk=2, delay=0.001))  # 400 deltas
    await sync_to_async(install_write_counter)()
    try:
        plan = await sync_to_async(plan_for)(user)
        runner = TurnRunner(plan=plan, config=await endpoint.upstream_config())
        await runner.run()
        updates = await sync_to_async(counted_writes)()
    finally:
        await sync_to_async(remove_write_counter)()
    assert runner.state.text == "ab" * 400 and runner.state.events > 400
    # The first token's checkpoint and the final save; a heartbeat at most.
    assert updates <= 3, f"{updates} answer writes for {runner.state.events} events"


# --- mutant: Stop not cancelling a background response upstream ---


async def test_stop_cancels_a_background_response_upstream(upstream, user, settings):
    settings.CHAT_BACKGROUND = True
    upstream.enqueue(
        fake.text_stream("x" * 4000, chunk=4, delay=0.005, response_id="resp_bg_1", background=True)
    )
    text_seen = asyncio.Event()

    class Publisher:
        def publish(self, seq, state, changes):
            if len(state.text) >= 40:
                text_seen.set()

    plan = await sync_to_async(plan_for)(user)
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config(), publisher=Publisher())
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(text_seen.wait(), 5)
    runner.cancel()
    snapshot = await task
    assert snapshot.status == "cancelled"
    sent = [r for r in upstream.requests if r["method"] == "POST" and r["path"] == "/v1/responses"]
    assert sent[0]["json"]["background"] is True
    assert upstream.cancelled == ["resp_bg_1"]  # it would otherwise keep generating, and billing


# --- mutant: a sweeper that ignores the lease's expiry ---


def test_the_sweeper_leaves_turns_whose_lease_still_runs(user):
    now = timezone.now()
    alive = start_turn(plan=plan_for(user), lease_owner="alive")
    dead = start_turn(plan=plan_for(user), lease_owner="dead")
    resumable = start_turn(plan=plan_for(user), lease_owner="alive-bg")
    Message.objects.filter(pk=resumable.assistant_message_id).update(
        background=True, response_id="resp_alive", status="streaming"
    )
    Message.objects.filter(pk=dead.assistant_message_id).update(
        lease_expires_at=now - timedelta(seconds=1)
    )
    ended, claimed = sweep_expired(claim_as="sweeper")
    assert [m.pk for m in ended] == [dead.assistant_message_id] and claimed == []
    rows = dict(Message.objects.filter(role="assistant").values_list("pk", "status"))
    assert rows[alive.assistant_message_id] == "queued"
    assert rows[resumable.assistant_message_id] == "streaming"
    assert rows[dead.assistant_message_id] == "interrupted"
    owner = Message.objects.get(pk=resumable.assistant_message_id).lease_owner
    assert owner == "alive-bg"  # not taken over while its runner still renews it


def test_a_turn_is_taken_over_only_once_its_lease_expired(user):
    started = start_turn(plan=plan_for(user), lease_owner="first")
    other = start_turn(plan=plan_for(user), lease_owner="other")
    answer_id = started.assistant_message_id
    assert claim_turn(message_id=answer_id, lease_owner="second") is None  # still alive
    expired = timezone.now() - timedelta(seconds=1)
    Message.objects.filter(role="assistant").update(lease_expires_at=expired)
    taken = claim_turn(message_id=answer_id, lease_owner="second")
    assert taken is not None and taken.pk == answer_id and taken.lease_owner == "second"
    assert Message.objects.get(pk=other.assistant_message_id).lease_owner == "other"  # only it
    assert taken.lease_expires_at > timezone.now()  # renewed for the new owner
    assert claim_turn(message_id=answer_id, lease_owner="third") is None  # once
    Message.objects.filter(pk=answer_id).update(status="completed", lease_expires_at=expired)
    assert claim_turn(message_id=answer_id, lease_owner="third") is None  # ended


# --- mutant: retry looks the answer up by id without checking its conversation ---


async def test_retry_of_an_answer_from_another_conversation_is_refused(upstream, user, other_user):
    mine = await sync_to_async(Conversation.objects.create)(owner=user, title="mine")
    theirs = await sync_to_async(Conversation.objects.create)(owner=other_user, title="theirs")

    @sync_to_async
    def history():
        # My own question first, then someone else's failed answer: a lookup by id alone
        # would find their answer and re-ask my latest question in my conversation.
        Message.objects.create(conversation=mine, role="user", text="my question")
        Message.objects.create(conversation=mine, role="assistant", text="my answer")
        Message.objects.create(conversation=theirs, role="user", text="their secret question")
        return Message.objects.create(
            conversation=theirs, role="assistant", status="failed", error_code="x"
        )

    foreign = await history()
    comm = await communicator(mine.pk, user)
    assert (await comm.connect())[0]
    await comm.receive_from(timeout=5)  # the stored latest answer, as the socket opens
    await send(comm, action="retry", message=foreign.pk)
    frame = await comm.receive_from(timeout=5)
    assert "That answer cannot be retried." in frame
    await comm.disconnect()
    assert upstream.requests == []
    counts = await sync_to_async(
        lambda: (mine.messages.count(), theirs.messages.count())
    )()  # fmt: skip
    assert counts == (2, 2)


# --- mutant: re-attach across two turns in one process (a stale floor drops the next turn) ---


async def test_a_tab_that_reattached_during_one_turn_sees_the_next_turn_live(
    upstream, user, settings
):
    settings.CHAT_FLUSH_INTERVAL = 0.01
    conversation = await sync_to_async(Conversation.objects.create)(owner=user, title="two")
    first = "".join(f"a{i:03d} " for i in range(150))
    second = "".join(f"b{i:03d} " for i in range(40))
    upstream.enqueue(
        fake.text_stream(first, chunk=5, delay=0.004), fake.text_stream(second, chunk=5, delay=0.01)
    )
    a = await communicator(conversation.pk, user)
    assert (await a.connect())[0]
    await send(a, action="send", message="one")
    await receive_until(a, "a040 ")
    b = await communicator(conversation.pk, user)  # a tab reloaded mid-turn: a snapshot
    assert (await b.connect())[0]
    await b.receive_from(timeout=5)  # its snapshot
    floors = [w.floor for w in registry_module.registry().watchers[conversation.pk]]
    assert max(floors) >= 3  # b's snapshot stands for several frames already sent
    await receive_until(b, FINAL)
    await receive_until(a, FINAL)
    await send(a, action="send", message="two")
    seen_b = await receive_until(b, FINAL)
    seen_a = await receive_until(a, FINAL)
    answer = await sync_to_async(
        lambda: Message.objects.filter(conversation=conversation, role="assistant").latest("id")
    )()
    assert answer.text == second
    # Both tabs were sent the same live frames (joined into messages differently, perhaps).
    assert appended(seen_b) == appended(seen_a) != ""
    assert appended(seen_b).startswith("b000 "), "the next turn did not stream to the tab"
    await a.disconnect()
    await b.disconnect()


def appended(frames: list[str]) -> str:
    """The text a tab was sent as live appends, in order."""
    return "".join(m.group(2) for f in frames for m in re.finditer(APPEND, f, re.S))
