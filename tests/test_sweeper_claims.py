"""The sweeper (chat/turns/sweeper.py) on the real database: of the live turns whose lease
expired, a background-mode turn with a response id is claimed for the caller to resume (when
it names a new owner); every other one is ended as interrupted. What it logs, what it hands
back (loaded so the relay needs no further query), and that a quiet sweep costs one query."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Message
from chat.turns.start import start_turn
from chat.turns.sweeper import sweep_expired
from chat.turns.takeover import claim_turn
from tests.test_critical_paths import plan_for

pytestmark = pytest.mark.django_db


def started(user, lease_owner: str, *, expired: bool, **columns) -> Message:
    """A live turn (its own conversation); `expired`: its runner stopped renewing the lease."""
    answer_id = start_turn(plan=plan_for(user), lease_owner=lease_owner).assistant_message_id
    if expired:
        columns["lease_expires_at"] = timezone.now() - timedelta(seconds=1)
    Message.objects.filter(pk=answer_id).update(**columns)
    return Message.objects.get(pk=answer_id)


def test_expired_background_turns_are_claimed_the_others_interrupted(user, caplog,
                                                                     django_assert_num_queries):  # fmt: skip
    caplog.set_level(logging.WARNING, logger="chat.turns.sweeper")
    background = dict(background=True, status="streaming")
    resumable = started(user, "dead-1", expired=True, response_id="resp_bg", **background)
    plain = started(user, "dead-2", expired=True, response_id="resp_plain", status="streaming")
    no_id = started(user, "dead-3", expired=True, response_id="", **background)
    alive = started(user, "alive", expired=False, response_id="resp_alive", **background)
    ended, claimed = sweep_expired(claim_as="sweeper-2")
    # the claim comes first (oldest first): the turns after it are still swept
    assert [m.pk for m in claimed] == [resumable.pk]
    assert [m.pk for m in ended] == [plain.pk, no_id.pk]
    taken = claimed[0]
    assert taken.lease_owner == "sweeper-2" and taken.lease_expires_at > timezone.now()
    assert taken.status == "streaming" and taken.response_id == "resp_bg"
    with django_assert_num_queries(0):  # loaded with what the resume and the relay read
        assert taken.conversation.pk == resumable.conversation_id
        for message in ended:
            assert message.status == "interrupted" and list(message.usage_records.all()) == []
    stored = dict(Message.objects.filter(role="assistant").values_list("pk", "lease_owner"))
    assert stored[alive.pk] == "alive" and stored[resumable.pk] == "sweeper-2"
    assert stored[plain.pk] == stored[no_id.pk] == ""
    assert Message.objects.get(pk=alive.pk).status == "streaming"
    assert [r.getMessage() for r in caplog.records] == [
        f"resuming background turn conversation={resumable.conversation_id} message={resumable.pk}",
        f"turn interrupted (lease expired) conversation={plain.conversation_id} message={plain.pk}",
        f"turn interrupted (lease expired) conversation={no_id.conversation_id} message={no_id.pk}",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_without_a_new_owner_a_background_turn_is_interrupted(user):
    resumable = started(user, "dead", expired=True, response_id="resp_bg", background=True,
                        status="streaming")  # fmt: skip
    ended, claimed = sweep_expired()
    assert [m.pk for m in ended] == [resumable.pk] and claimed == []
    stored = Message.objects.get(pk=resumable.pk)
    assert (stored.status, stored.lease_owner, stored.lease_expires_at) == ("interrupted", "", None)


def test_a_turn_claimed_elsewhere_first_is_left_to_its_new_owner(user):
    resumable = started(user, "dead", expired=True, response_id="resp_bg", background=True,
                        status="streaming")  # fmt: skip
    assert claim_turn(message_id=resumable.pk, lease_owner="other-process") is not None
    assert sweep_expired(claim_as="sweeper-2") == ([], [])
    stored = Message.objects.get(pk=resumable.pk)
    assert (stored.status, stored.lease_owner) == ("streaming", "other-process")


def test_a_quiet_sweep_is_one_query_and_leaves_ended_answers_alone(user, django_assert_num_queries):
    """Running turns are not locked or read one by one every sweep, and an ended answer
    whose lease column still holds a past time is not looked at again."""
    started(user, "alive", expired=False)
    old = started(user, "gone", expired=True, status="completed")
    done_at = old.done_at
    with django_assert_num_queries(1):
        assert sweep_expired(claim_as="sweeper") == ([], [])
    stored = Message.objects.get(pk=old.pk)
    assert (stored.status, stored.lease_owner, stored.done_at) == ("completed", "gone", done_at)
