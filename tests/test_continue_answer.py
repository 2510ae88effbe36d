"""Continue (chat/turns/continuation.py): only the owner, only the latest answer, only an
incomplete one; the claim re-opens it for one more round. And the length cut-off: a round
that used exactly max_output_tokens is incomplete though the server said completed."""

import pytest

from chat.models import Conversation, Message
from chat.turns import continuation
from chat.turns.plan import TurnRejected
from chat.turns.state import TurnState
from chat.turns.tokens import TokenUsage

pytestmark = pytest.mark.django_db


@pytest.fixture
def cut(user):
    conversation = Conversation.objects.create(owner=user)
    Message.objects.create(conversation=conversation, role="user", text="Tell a story")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status="incomplete", text="Once upon",
        incomplete_reason="max_output_tokens", response_id="resp_1",
        settings={"model": "gpt-4o-mini", "max_output_tokens": 16},
    )  # fmt: skip
    return conversation, answer


def claim(user, conversation, answer):
    return continuation.claim(
        user=user, conversation_id=conversation.pk, message_id=answer.pk, lease_owner="runner-2"
    )


def test_the_claim_reopens_the_answer_for_one_more_round(user, cut):
    conversation, answer = cut
    claimed = claim(user, conversation, answer)
    assert claimed.plan.input == [{"role": "user", "content": "Tell a story"}]
    assert claimed.then_input == [{"role": "user", "content": continuation.GO_ON}]
    assert claimed.plan.settings["max_output_tokens"] == 16
    answer.refresh_from_db()
    assert answer.status == "queued" and answer.incomplete_reason == ""
    assert answer.lease_owner == "runner-2"
    assert answer.rounds == [
        {"response_id": "resp_1", "status": "incomplete", "start": 0, "billed": True}
    ]
    with pytest.raises(TurnRejected, match="still being written"):
        claim(user, conversation, answer)


def test_only_the_owner_continues_only_the_latest_incomplete_answer(user, cut, django_user_model):
    conversation, answer = cut
    stranger = django_user_model.objects.create_user(username="mallory")
    with pytest.raises(TurnRejected, match="Only the owner"):
        claim(stranger, conversation, answer)
    Message.objects.filter(pk=answer.pk).update(status="completed")
    with pytest.raises(TurnRejected, match="Only an incomplete answer"):
        claim(user, conversation, answer)
    Message.objects.filter(pk=answer.pk).update(status="incomplete")
    Message.objects.create(conversation=conversation, role="user", text="next")
    with pytest.raises(TurnRejected, match="Only the latest answer"):
        claim(user, conversation, answer)


def completed_with(output_tokens: int) -> TurnState:
    state = TurnState()
    state.usage = TokenUsage(output_tokens=output_tokens)
    state.status = "completed"
    return state


def test_a_round_that_used_every_token_allowed_was_cut():
    state = completed_with(16)
    assert state.cut_at_length(16)
    assert state.status == "incomplete" and state.incomplete_reason == "max_output_tokens"
    for tokens, limit in ((15, 16), (40, 16), (16, None)):  # under, ignored, no limit sent
        state = completed_with(tokens)
        assert not state.cut_at_length(limit) and state.status == "completed"
