"""What a checkpoint and the final save write (chat/turns/save.py): every field of the
snapshot, empty values as the columns' empty strings, the model only when the stream named
one, a live status kept and any other one saved as streaming, the lease renewed for
TURN_LEASE_SECONDS; the final answer comes back as a row loaded from the database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Message
from chat.turns.plan import TurnPlan
from chat.turns.save import checkpoint_turn, finish_turn
from chat.turns.snapshot import TurnSnapshot
from chat.turns.start import start_turn

pytestmark = pytest.mark.django_db

ITEMS = [{"type": "message", "id": "msg_1", "parts": [{"kind": "output_text", "text": "Hi"}]}]
ROUNDS = [{"start": 0, "response_id": "resp_1"}]


def queued(user, lease_owner="me") -> int:
    plan = TurnPlan(user.pk, None, "Hello", "asked-model", [])
    return start_turn(plan=plan, lease_owner=lease_owner).assistant_message_id


def full(status="streaming") -> TurnSnapshot:
    return TurnSnapshot(
        status=status, text="Hi", items=ITEMS, model="answering-model", response_id="resp_1",
        background=True, last_seq=41, error_code="server_error", error_message="It broke",
        incomplete_reason="max_output_tokens", warnings=["w"], rounds=ROUNDS,
        first_event_at=timezone.now() - timedelta(seconds=2),
        first_token_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip


def stored(message_id: int) -> dict:
    names = ("status", "text", "items", "model", "response_id", "background", "last_seq",
             "error_code", "error_message", "incomplete_reason", "warnings", "rounds",
             "first_event_at", "first_token_at")  # fmt: skip
    return dict(zip(names, Message.objects.values_list(*names).get(pk=message_id), strict=True))


def test_a_checkpoint_writes_every_field_of_the_snapshot(user):
    answer_id = queued(user)
    snapshot = full()
    assert checkpoint_turn(message_id=answer_id, snapshot=snapshot, lease_owner="me")
    assert stored(answer_id) == {
        "status": "streaming", "text": "Hi", "items": ITEMS, "model": "answering-model",
        "response_id": "resp_1", "background": True, "last_seq": 41,
        "error_code": "server_error", "error_message": "It broke",
        "incomplete_reason": "max_output_tokens", "warnings": ["w"], "rounds": ROUNDS,
        "first_event_at": snapshot.first_event_at, "first_token_at": snapshot.first_token_at,
    }  # fmt: skip


def test_empty_values_are_stored_as_empty_strings_and_the_asked_model_is_kept(user):
    answer_id = queued(user)
    bare = TurnSnapshot(status="queued", text="", items=[])
    assert checkpoint_turn(message_id=answer_id, snapshot=bare, lease_owner="me")
    row = stored(answer_id)
    assert row["status"] == "queued"  # a live status is kept as it is
    assert (row["model"], row["response_id"], row["error_code"]) == ("asked-model", "", "")
    assert (row["error_message"], row["incomplete_reason"], row["background"]) == ("", "", False)
    assert (row["last_seq"], row["first_event_at"], row["first_token_at"]) == (None, None, None)


def test_a_checkpoint_renews_the_lease_for_the_configured_time(user, settings):
    answer_id = queued(user)
    settings.TURN_LEASE_SECONDS = 77
    before = timezone.now()
    assert checkpoint_turn(message_id=answer_id, snapshot=full(), lease_owner="me")
    expires = Message.objects.get(pk=answer_id).lease_expires_at
    assert before + timedelta(seconds=77) <= expires <= timezone.now() + timedelta(seconds=77)
    assert not checkpoint_turn(message_id=answer_id, snapshot=full(), lease_owner="other")
    assert Message.objects.get(pk=answer_id).lease_expires_at == expires


def test_the_final_answer_is_a_row_as_loaded_with_what_was_written(user):
    answer_id = queued(user)
    answer = finish_turn(message_id=answer_id, snapshot=full("completed"), lease_owner="me")
    assert answer._state.adding is False and answer._state.db == "default"
    loaded = Message.objects.get(pk=answer_id)
    assert (answer.conversation_id, answer.parent_id, answer.role) == (
        loaded.conversation_id, loaded.parent_id, "assistant",
    )  # fmt: skip
    assert (answer.settings, answer.created_at, answer.queued_at) == (
        loaded.settings, loaded.created_at, loaded.queued_at,
    )  # fmt: skip
    assert (answer.model, answer.error_code, answer.rounds) == (
        "answering-model", "server_error", ROUNDS,
    )  # fmt: skip
    answer.text = "edited"
    answer.save(update_fields=["text"])  # a loaded row: saving it updates, never inserts
    assert Message.objects.get(pk=answer_id).text == "edited"
    assert Message.objects.filter(role="assistant").count() == 1


def test_the_final_save_ends_only_a_live_answer_of_the_same_runner(user):
    answer_id = queued(user, lease_owner="me")
    kept = finish_turn(message_id=answer_id, snapshot=full("completed"), lease_owner="other")
    assert kept.status == "queued" and Message.objects.get(pk=answer_id).lease_owner == "me"
    done = finish_turn(message_id=answer_id, snapshot=full("failed"), lease_owner="me")
    assert (done.status, done.lease_owner, done.lease_expires_at) == ("failed", "", None)
    again = finish_turn(message_id=answer_id, snapshot=full("completed"))
    assert again.status == "failed"  # already ended: returned as stored
