"""finish_turn (chat/turns/save.py) at its edges: the usage row keeps the model the answer was
asked with apart from the one that reported, a caller that counts no input gets no input
tokens estimated, and a second end hands back the stored answer with its usage loaded."""

import pytest

from chat.models import Message
from chat.turns.save import finish_turn
from chat.turns.snapshot import TurnSnapshot
from chat.turns.start import start_turn
from chat.turns.state import TokenUsage
from tests.test_critical_paths import plan_for

pytestmark = pytest.mark.django_db


def answered(**fields) -> TurnSnapshot:
    status = fields.pop("status", "completed")
    values = {"text": "abcdefgh", "items": [], "events": 2, "model": "reported-name", **fields}
    return TurnSnapshot(status=status, **values)


def test_the_row_keeps_the_model_asked_for_apart_from_the_one_that_answered(user):
    answer_id = start_turn(plan=plan_for(user), lease_owner="me").assistant_message_id
    usage = TokenUsage(input_tokens=3, output_tokens=4, total_tokens=7)
    stored = finish_turn(message_id=answer_id, snapshot=answered(usage=usage), requested_model="m")
    (row,) = stored.prefetched_usage
    assert (row.requested_model, row.model) == ("m", "reported-name")
    assert stored.model == "reported-name"


def test_without_a_count_of_the_input_none_is_estimated(user):
    answer_id = start_turn(plan=plan_for(user), lease_owner="me").assistant_message_id
    stored = finish_turn(message_id=answer_id, snapshot=answered(status="cancelled"))
    (row,) = stored.prefetched_usage
    assert row.estimated and (row.input_tokens, row.output_tokens) == (0, 2)


def test_a_second_end_returns_the_stored_answer_with_its_usage_loaded(
    user, django_assert_num_queries
):
    answer_id = start_turn(plan=plan_for(user), lease_owner="me").assistant_message_id
    finish_turn(message_id=answer_id, snapshot=answered(status="cancelled"))
    again = finish_turn(message_id=answer_id, snapshot=answered(status="failed", text="other"))
    assert (again.status, again.text) == ("cancelled", "abcdefgh")
    with django_assert_num_queries(0):
        assert [r.output_tokens for r in again.usage_records.all()] == [2]
    assert Message.objects.get(pk=answer_id).status == "cancelled"
