"""Who may answer an MCP approval request, and when: the owner, once, on the latest answer;
read-only viewers never see the buttons."""

import pytest
from django.test import Client

from accounts.models import Membership, Role, Team
from chat.models import Budget, Conversation, Message, UsageRecord
from chat.tools import approval
from chat.turns.plan import TurnRejected

pytestmark = pytest.mark.django_db
REQUEST = {
    "type": "mcp_approval_request", "id": "mcpr_1", "output_index": 0, "status": None,
    "parts": [], "summary": [], "reasoning": [], "name": "ask_question", "call_id": None,
    "arguments": "", "input": "", "code": "", "preview": "",
    "raw": {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "deepwiki",
            "name": "ask_question", "arguments": '{"question": "Delete it?"}'},
}  # fmt: skip


@pytest.fixture
def world(django_user_model):
    owner = django_user_model.objects.create_user(username="owner")
    viewer = django_user_model.objects.create_user(username="viewer")
    team = Team.objects.create(name="T")
    for person in (owner, viewer):
        Membership.objects.create(team=team, user=person, role=Role.MEMBER)
    conversation = Conversation.objects.create(owner=owner, shared_with=team)
    Message.objects.create(conversation=conversation, role="user", text="Ask the wiki")
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status="completed", items=[REQUEST],
        response_id="resp_1", rounds=[{"response_id": "resp_1", "status": "completed", "start": 0}],
    )  # fmt: skip
    return owner, viewer, conversation, answer


def claim(user, conversation, answer, request_id="mcpr_1", approve=True):
    return approval.claim(
        user=user, conversation_id=conversation.pk, message_id=answer.pk,
        request_id=request_id, approve=approve, lease_owner="test-runner",
    )  # fmt: skip


def test_the_owner_sees_approve_and_deny_a_viewer_does_not(world):
    owner, viewer, conversation, _ = world
    for person, buttons in ((owner, 1), (viewer, 0)):
        client = Client()
        client.force_login(person)
        page = client.get(f"/c/{conversation.pk}/").content.decode()
        assert "deepwiki" in page and "Delete it?" in page
        assert page.count('class="approve"') == buttons
        assert page.count('class="deny"') == buttons


def test_a_claim_marks_the_request_answered_and_builds_the_next_rounds_input(world):
    owner, _, conversation, answer = world
    claimed = claim(owner, conversation, answer, approve=False)
    assert claimed.then_input == [
        {"type": "mcp_approval_request", "id": "mcpr_1", "server_label": "deepwiki",
         "name": "ask_question", "arguments": '{"question": "Delete it?"}'},
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": False},
    ]  # fmt: skip
    assert claimed.plan.input == [{"role": "user", "content": "Ask the wiki"}]
    answer.refresh_from_db()
    assert answer.status == "queued" and answer.lease_owner == "test-runner"
    assert answer.items[0]["raw"]["approval_answer"] == "denied"
    assert answer.rounds == [
        {"response_id": "resp_1", "status": "completed", "start": 0, "billed": True}
    ]


def test_a_request_is_answered_once_by_its_owner_on_the_latest_answer(world):
    owner, viewer, conversation, answer = world
    with pytest.raises(TurnRejected, match="Only the owner"):
        claim(viewer, conversation, answer)
    with pytest.raises(TurnRejected, match="not found"):
        claim(owner, conversation, answer, request_id="mcpr_other")
    Message.objects.filter(pk=answer.pk).update(status="completed")
    claim(owner, conversation, answer)
    Message.objects.filter(pk=answer.pk).update(status="completed")
    with pytest.raises(TurnRejected, match="already answered"):
        claim(owner, conversation, answer)
    Message.objects.create(conversation=conversation, role="user", text="later")
    with pytest.raises(TurnRejected, match="latest answer"):
        claim(owner, conversation, answer)


def test_a_live_answer_cannot_be_answered(world):
    owner, _, conversation, answer = world
    Message.objects.filter(pk=answer.pk).update(status="streaming")
    with pytest.raises(TurnRejected, match="still being written"):
        claim(owner, conversation, answer)
    answer.refresh_from_db()
    assert "approval_answer" not in answer.items[0]["raw"]


def test_a_used_up_budget_refuses_the_next_round_and_leaves_the_request_open(world):
    owner, _, conversation, answer = world
    Budget.objects.create(scope="user", user=owner, monthly_tokens=10)
    UsageRecord.objects.create(
        user=owner, username="owner", model="m", status="completed", input_tokens=10,
        total_tokens=10,
    )  # fmt: skip
    with pytest.raises(TurnRejected, match="Monthly budget reached"):
        claim(owner, conversation, answer)
    answer.refresh_from_db()
    assert answer.status == "completed" and "approval_answer" not in answer.items[0]["raw"]
