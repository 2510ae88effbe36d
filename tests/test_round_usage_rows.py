"""The ledger rows of a turn, one per round (chat/turns/round_usage.py), written to the real
database: which round gets which status, response id, usage (reported or estimated from that
round's own items) and raw report, and which rounds get none (billed before, or never ran).
The snapshots are what the turn services hand over: an interrupted turn's stored rounds, whose
last record is stale (the checkpoint's), and the snapshot's own fields for the last round."""

from dataclasses import asdict

import pytest

from chat.models import Conversation, Message
from chat.turns.round_usage import record_round_usage
from chat.turns.snapshot import TurnSnapshot
from chat.turns.tokens import TokenUsage
from chat.usage.models import UsageRecord

pytestmark = pytest.mark.django_db

REPORTED = TokenUsage(input_tokens=30, output_tokens=12, total_tokens=42)
RAW = {"input_tokens": 30, "output_tokens": 12, "vendor_note": "r1"}


@pytest.fixture
def answer(user):
    conversation = Conversation.objects.create(owner=user, title="ledger")
    return Message.objects.create(
        conversation=conversation, role="assistant", status="streaming", model="reported-name"
    )


def message_item(*texts: str) -> dict:
    return {"type": "message", "parts": [{"kind": "output_text", "text": t} for t in texts]}


# Round 0: a call (20 characters of arguments); round 1: its output; round 2: a summary
# (not answer text, not counted), a message of three parts (one empty) and a second message.
ITEMS = [
    {"type": "function_call", "name": "calculator", "arguments": '{"expression":"6*7"}'},
    {"type": "function_call_output", "output": "42"},
    {"type": "reasoning", "summary": ["thinking"]},
    message_item("abcd", "", "efgh"),
    message_item("ijkl"),
]


def interrupted_rounds() -> list[dict]:
    return [
        # finished, ran, but its end reported no usage: estimated from its own items
        {"response_id": "resp_a", "status": "completed", "start": 0, "usage": None,
         "raw_usage": None, "events": 5},
        # finished with a usage report
        {"response_id": "resp_b", "status": "incomplete", "start": 1, "usage": asdict(REPORTED),
         "raw_usage": RAW, "events": 7},
        # the round that was running, as its last checkpoint stored it (no id, no events yet)
        {"response_id": None, "status": "streaming", "start": 2, "usage": None,
         "raw_usage": None, "events": 0},
    ]  # fmt: skip


def rows_of(message: Message) -> dict[str, UsageRecord]:
    return {r.response_id: r for r in UsageRecord.objects.filter(message_id=message.pk)}


def test_an_interrupted_three_round_turn_gets_one_row_per_round(answer):
    snapshot = TurnSnapshot(
        status="interrupted", text="abcdefgh\n\nijkl", items=ITEMS, model="reported-name",
        response_id="resp_c", events=1, rounds=interrupted_rounds(),
    )  # fmt: skip
    records = record_round_usage(
        message=answer, snapshot=snapshot, input_chars=400, requested_model="asked-model"
    )
    rows = rows_of(answer)
    assert sorted(rows) == ["resp_a", "resp_b", "resp_c"]
    assert sorted(r.response_id for r in records) == ["resp_a", "resp_b", "resp_c"]
    first, second, last = rows["resp_a"], rows["resp_b"], rows["resp_c"]
    # each finished round keeps its own status; the last one the snapshot's (the turn's end)
    assert (first.status, second.status, last.status) == ("completed", "incomplete", "interrupted")
    # round 0: its own call's 20 characters of arguments, no text: 5 tokens out
    assert (first.estimated, first.input_tokens, first.output_tokens) == (True, 100, 5)
    assert (second.estimated, second.input_tokens, second.output_tokens) == (False, 30, 12)
    assert second.raw == RAW and first.raw is None
    # round 2: only its message text, parts joined as they are ("abcd" "efgh" "ijkl"): 3 tokens
    assert (last.estimated, last.input_tokens, last.output_tokens) == (True, 100, 3)
    for row in (first, second, last):
        assert (row.requested_model, row.model) == ("asked-model", "reported-name")


def test_billed_rounds_and_rounds_that_never_ran_get_no_row(answer):
    """An answer that went on after an approval: its first rounds were ledgered when it first
    ended. A round that failed before any event bills nothing."""
    rounds = [
        {"response_id": "resp_old", "status": "completed", "start": 0, "usage": asdict(REPORTED),
         "raw_usage": RAW, "events": 9, "billed": True},
        {"response_id": "resp_dead", "status": "failed", "start": 1, "usage": None,
         "raw_usage": None, "events": 0},
        # stale last record: the snapshot carries the round's end (its usage and raw report)
        {"response_id": "resp_stale", "status": "streaming", "start": 2, "usage": None,
         "raw_usage": {"stale": True}, "events": 0},
    ]  # fmt: skip
    final = TokenUsage(input_tokens=50, output_tokens=20, total_tokens=70)
    snapshot = TurnSnapshot(
        status="completed", text="abcdefgh\n\nijkl", items=ITEMS, response_id="resp_new",
        usage=final, raw_usage={"final": True}, events=4, rounds=rounds,
    )  # fmt: skip
    records = record_round_usage(message=answer, snapshot=snapshot, input_chars=400)
    (row,) = rows_of(answer).values()
    assert [r.response_id for r in records] == ["resp_new"]
    assert (row.response_id, row.status, row.estimated) == ("resp_new", "completed", False)
    assert (row.input_tokens, row.output_tokens, row.raw) == (50, 20, {"final": True})
    assert row.requested_model == "reported-name"  # none asked for: the message's model


def test_two_rounds_give_two_rows(answer):
    rounds = interrupted_rounds()[1:]
    rounds[0]["start"] = 0
    snapshot = TurnSnapshot(
        status="interrupted", text="", items=ITEMS, response_id="resp_c", events=1, rounds=rounds
    )
    records = record_round_usage(message=answer, snapshot=snapshot, input_chars=8)
    assert len(records) == 2 and sorted(rows_of(answer)) == ["resp_b", "resp_c"]


def test_one_round_is_the_snapshot_itself(answer):
    """One round (or none stored, as before rounds were kept): the row is the snapshot's, its
    text as the turn shows it (two messages, a blank line between them)."""
    for rounds in ([], [{"response_id": "resp_1", "status": "streaming", "start": 0}]):
        UsageRecord.objects.all().delete()
        snapshot = TurnSnapshot(
            status="cancelled", text="abcd\n\nefgh", items=[message_item("abcd"),
            message_item("efgh")], response_id="resp_1", events=3, rounds=rounds,
        )  # fmt: skip
        (record,) = record_round_usage(message=answer, snapshot=snapshot, input_chars=40)
        row = UsageRecord.objects.get()
        assert record.response_id == row.response_id == "resp_1"
        # 10 characters (the blank line counts): 3 tokens; 40 characters in: 10
        assert (row.estimated, row.output_tokens, row.input_tokens) == (True, 3, 10)
        assert (row.status, row.requested_model) == ("cancelled", "reported-name")


def test_one_reported_round_keeps_the_model_asked_for(answer):
    snapshot = TurnSnapshot(
        status="completed", text="hi", items=[message_item("hi")], model="gpt-x-2025",
        response_id="resp_1", usage=REPORTED, raw_usage=RAW, events=3,
    )  # fmt: skip
    (record,) = record_round_usage(
        message=answer, snapshot=snapshot, input_chars=40, requested_model="gpt-x"
    )
    row = UsageRecord.objects.get()
    assert record.pk == row.pk
    assert (row.requested_model, row.model, row.input_tokens) == ("gpt-x", "gpt-x-2025", 30)


def test_a_turn_that_never_ran_gets_no_row(answer):
    snapshot = TurnSnapshot(status="failed", text="", items=[], events=0)
    assert record_round_usage(message=answer, snapshot=snapshot, input_chars=40) == []
    assert not UsageRecord.objects.exists()
