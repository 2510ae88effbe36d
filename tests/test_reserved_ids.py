"""Message ids taken before the rows are written (chat/turns/ids.py), so the first text of a
turn need not wait for its INSERTs: the ids are new, in order, never handed out twice (not by
a later reservation, not by a plain INSERT), and start_turn writes the rows under them. The
runner shows the rows under them at once and says when they are written; rows shown but
never written are taken off the page again. Runs on SQLite and (CI) on PostgreSQL."""

import asyncio
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from chat import sql
from chat.models import Message
from chat.turns import bridge as wire
from chat.turns import frames
from chat.turns import runner as runner_module
from chat.turns.ids import reserve
from chat.turns.live import LiveTurn
from chat.turns.plan import StartedTurn, TurnPlan, plan_turn
from chat.turns.registry import TurnRegistry
from chat.turns.runner import TurnRunner
from chat.turns.start import start_turn
from chat.upstream.client import UpstreamConfig
from tests.history_factories import conversation, exchange
from tests.relay_fakes import FakeBridge, Tab
from tests.test_critical_paths import plan_for


@pytest.mark.django_db
def test_reserved_ids_are_new_in_order_and_never_handed_out_again(user):
    convo = conversation(user)
    _, before = exchange(convo, "q", "a")
    first = reserve(2)
    second = reserve(3)
    assert len(first) == 2 and len(second) == 3
    assert list(first) == sorted(first) and list(second) == sorted(second)
    assert before.pk < first[0] and first[-1] < second[0]  # new, and in the order taken
    _, after = exchange(convo, "q2", "a2")  # a plain INSERT afterwards
    assert after.pk > second[-1]


@pytest.mark.django_db
def test_the_first_reservation_of_an_empty_table_starts_above_nothing():
    assert not Message.objects.exists()
    taken = reserve(2)
    assert taken[1] == taken[0] + 1 and taken[0] >= 1
    assert reserve(1)[0] > taken[1]


@pytest.mark.django_db
def test_on_sqlite_a_table_without_its_sequence_entry_reserves_above_its_rows(user):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's sqlite_sequence only (PostgreSQL's sequence always exists)")
    convo = conversation(user)
    _, answer = exchange(convo, "q", "a")
    table = Message._meta.db_table
    sql.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])
    assert reserve(3) == (answer.pk + 1, answer.pk + 2, answer.pk + 3)
    assert sql.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])[1] == [
        (answer.pk + 3,)
    ]
    assert reserve(1) == (answer.pk + 4,)  # the entry made is the one moved up next time


@pytest.mark.django_db
def test_a_plan_takes_the_question_and_answer_ids_and_start_turn_writes_under_them(user):
    convo = conversation(user)
    plan = plan_turn(user=user, conversation_id=convo.pk, text="Hello", model="gpt-4.1-mini")
    assert len(plan.ids) == 2
    assert plan.reserved() == StartedTurn(convo.pk, plan.ids[0], plan.ids[1])
    started = start_turn(plan=plan, lease_owner="me")
    assert started == plan.reserved()
    question, answer = Message.objects.get(pk=plan.ids[0]), Message.objects.get(pk=plan.ids[1])
    assert (question.role, question.text) == ("user", "Hello")
    assert (answer.role, answer.status, answer.parent_id) == ("assistant", "queued", question.pk)


@pytest.mark.django_db
def test_a_regenerate_takes_only_the_answers_id(user):
    convo = conversation(user)
    question, answer = exchange(convo, "q", "a")
    plan = plan_turn(user=user, conversation_id=convo.pk, text="", model="gpt-4.1-mini",
                     regenerate=answer.pk)  # fmt: skip
    assert len(plan.ids) == 1 and plan.ids[0] > answer.pk
    assert plan.reserved() == StartedTurn(convo.pk, question.pk, plan.ids[0])
    started = start_turn(plan=plan, lease_owner="me")
    assert started == StartedTurn(convo.pk, question.pk, plan.ids[0])
    assert Message.objects.get(pk=plan.ids[0]).parent_id == question.pk


@pytest.mark.django_db
def test_without_ids_start_turn_writes_as_before(user):
    plan = replace(plan_for(user, None, text="first"), ids=())
    assert plan.reserved() is None  # a new conversation: its id comes with its row anyway
    started = start_turn(plan=plan, lease_owner="me")
    assert Message.objects.get(pk=started.assistant_message_id).parent_id == (
        started.user_message_id
    )


# --- the runner and the page ---
class Frames:
    def __init__(self) -> None:
        self.seqs: list[int] = []

    def publish(self, seq, state, changes) -> None:
        self.seqs.append(seq)


def reserved_plan(**fields) -> TurnPlan:
    return TurnPlan(user_id=1, conversation_id=7, text="hi", model="m", input=[], ids=(40, 41),
                    **fields)  # fmt: skip


async def test_the_runner_shows_the_reserved_rows_first_and_writes_them_after_a_frame(
    monkeypatch,
):
    written = asyncio.Event()

    def slow_start_turn(**kwargs):
        time.sleep(0.05)
        return StartedTurn(7, 40, 41)

    monkeypatch.setattr(runner_module, "start_turn", slow_start_turn)
    shown, started, frames_out = [], [], Frames()
    runner = TurnRunner(plan=reserved_plan(), config=None, publisher=frames_out,  # type: ignore[arg-type]
                        on_shown=shown.append, on_started=lambda s: (started.append(s), written.set()))  # fmt: skip
    runner._begin()
    assert shown == []  # first the request goes out (the runner's next step)
    await asyncio.sleep(0)
    assert shown == [StartedTurn(7, 40, 41)] and started == []  # then at once, before any write
    assert runner._write is None  # and the write waits for the first frame
    runner._flush()  # nothing changed: no frame, still no write
    assert frames_out.seqs == [] and runner._write is None
    runner.state.guard.warn("test", "the first change")
    runner._flush()
    assert frames_out.seqs == [1] and runner._write is not None  # out first, then the rows
    write = runner._write
    assert runner._write_rows() is write  # one write only
    assert await write == StartedTurn(7, 40, 41)
    await asyncio.wait_for(written.wait(), 5)
    assert runner.started == StartedTurn(7, 40, 41) and started == [StartedTurn(7, 40, 41)]
    assert shown == [StartedTurn(7, 40, 41)]  # not shown a second time
    runner.state.guard.warn("test", "more")
    runner._flush()
    assert frames_out.seqs == [1, 2] and runner._write is write


async def test_rows_are_written_soon_even_if_no_frame_comes(monkeypatch):
    monkeypatch.setattr(runner_module, "ROWS_WRITTEN_WITHIN", 0.02)
    monkeypatch.setattr(runner_module, "start_turn", lambda **kw: StartedTurn(7, 40, 41))
    started: list[StartedTurn] = []
    runner = TurnRunner(plan=reserved_plan(), config=None, on_started=started.append)  # type: ignore[arg-type]
    runner._begin()
    await asyncio.sleep(0.005)
    assert runner._write is None  # not at once: the request goes first
    await asyncio.sleep(0.03)
    assert runner._write is not None
    await runner._write
    await asyncio.sleep(0)
    assert started == [StartedTurn(7, 40, 41)] and runner.started == StartedTurn(7, 40, 41)


async def test_a_turn_that_ends_before_any_frame_still_writes_its_rows(monkeypatch):
    monkeypatch.setattr(runner_module, "start_turn", lambda **kw: StartedTurn(7, 40, 41))
    saved: list[int] = []

    async def store_final(**kwargs):
        saved.append(kwargs["message_id"])

    monkeypatch.setattr(runner_module, "store_final", store_final)
    runner = TurnRunner(plan=reserved_plan(), config=None)  # type: ignore[arg-type]
    runner.cancel()  # stopped before it began: no frame, no request
    await runner.run()
    assert runner.started == StartedTurn(7, 40, 41) and saved == [41]
    assert runner.state.status == "cancelled"


async def test_a_regenerates_reserved_rows_are_its_question_and_the_new_answer():
    shown: list[StartedTurn] = []
    plan = replace(reserved_plan(), ids=(41,), question_id=12)
    runner = TurnRunner(plan=plan, config=None, on_shown=shown.append)  # type: ignore[arg-type]
    runner._begin()
    await asyncio.sleep(0)
    assert shown == [StartedTurn(7, 12, 41)]


async def test_without_reserved_ids_the_rows_are_written_at_once_and_shown_once_written(
    monkeypatch,
):
    monkeypatch.setattr(runner_module, "start_turn", lambda **kw: StartedTurn(7, 40, 41))
    shown: list[StartedTurn] = []
    runner = TurnRunner(plan=replace(reserved_plan(), ids=()), config=None,  # type: ignore[arg-type]
                        on_shown=shown.append)  # fmt: skip
    runner._begin()
    assert shown == [] and runner.shown is None and runner._write is not None
    await runner._write
    await asyncio.sleep(0)
    assert shown == [StartedTurn(7, 40, 41)] and runner.shown == StartedTurn(7, 40, 41)


async def test_rows_shown_but_never_written_are_taken_off_every_page():
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay = TurnRegistry()
    relay.bridge = FakeBridge()  # type: ignore[assignment]
    relay.attach(7, writer)
    relay.attach(7, viewer)
    turn = LiveTurn(relay, reserved_plan(), 7)
    turn.runner = SimpleNamespace(started=None)  # type: ignore[assignment]
    turn.on_shown(StartedTurn(7, 40, 41))
    writer.got.clear()
    viewer.got.clear()
    relay.bridge.calls.clear()
    await relay._announce_end(turn)
    html = frames.removed_rows_frame((40, 41)) + frames.turn_controls_frame(live=False)
    assert 'id="stop-button"' not in html
    assert writer.got == [(0, html), (0, frames.sidebar_dot_frame(7, False))]
    assert viewer.got == [(0, html)]  # the same for writers and viewers
    assert relay.bridge.calls == [
        ("group_send", "watch.7", wire.Ended(conversation=7, html=html, viewer_html=None)),
        ("leave", "turn.7", None),
    ]


async def test_a_regenerate_shown_but_never_written_takes_off_only_its_answer():
    turn = LiveTurn(TurnRegistry(), replace(reserved_plan(), ids=(41,), question_id=12), 7)
    turn.on_shown(StartedTurn(7, 12, 41))
    html = frames.removed_rows_frame((41,)) + frames.turn_controls_frame(live=False)
    assert turn.retraction() == html  # its question stays


@pytest.mark.django_db(transaction=True)
async def test_a_turn_whose_rows_cannot_be_written_says_so_and_takes_them_back(user, monkeypatch):
    convo = await sync_to_async(conversation)(user)

    def refuse(**kwargs):
        raise RuntimeError("no database")

    async def nowhere():  # a refused connection: the request fails at once, or is cancelled
        return UpstreamConfig(base_url="http://127.0.0.1:9/v1", max_retries=0)

    monkeypatch.setattr(runner_module, "start_turn", refuse)
    monkeypatch.setattr("chat.turns.endpoint.upstream_config", nowhere)
    relay = TurnRegistry()
    tab = Tab(user.pk, "w")
    relay.attach(convo.pk, tab)
    plan = replace(reserved_plan(), user_id=user.pk, conversation_id=convo.pk)
    with pytest.raises(RuntimeError, match="no database"):
        await asyncio.wait_for(relay.start(plan), 5)
    for _ in range(100):  # the turn's task ends right after its start failed
        if not relay.is_live(convo.pk):
            break
        await asyncio.sleep(0.01)
    htmls = [html for _seq, html in tab.got]
    assert any('id="m41"' in html and "queued" in html for html in htmls)  # shown at once
    assert htmls[-2].startswith(frames.removed_rows_frame((40, 41)))  # then taken back
    assert htmls[-1] == frames.sidebar_dot_frame(convo.pk, False)
    assert not relay.is_live(convo.pk)
