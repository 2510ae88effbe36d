"""Import of a JSON export: a faithful new private conversation, or a clear refusal and nothing
written."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from chat.history import export, importing
from chat.models import Conversation, Message
from tests.history_factories import conversation, exchange, team_with

pytestmark = pytest.mark.django_db
KEPT = (
    "role", "status", "text", "items", "rounds", "model", "response_id", "error_code",
    "error_message", "incomplete_reason", "warnings", "created_at", "queued_at",
    "first_event_at", "first_token_at", "done_at",
)  # fmt: skip


def upload(client, raw: bytes):
    return client.post(
        reverse("history:import"), {"file": SimpleUploadedFile("c.json", raw, "application/json")}
    )


def test_export_then_import_gives_the_same_messages(client, user, other_user):
    team = team_with(user, other_user)
    source = conversation(other_user, "Shared notes", shared_with=team)
    _, answer = exchange(source, "What is <b>2+2</b>?", "4", status="incomplete")
    Message.objects.filter(pk=answer.pk).update(
        items=[{"type": "message", "parts": [{"kind": "output_text", "text": "4"}]}],
        rounds=[{"response_id": "resp_1", "status": "incomplete"}], response_id="resp_1",
        incomplete_reason="max_output_tokens", warnings=["skipped one event"],
    )  # fmt: skip
    client.force_login(user)
    raw = client.get(reverse("history:export", args=[source.pk, "json"])).content
    response = upload(client, raw)
    imported = Conversation.objects.exclude(pk=source.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/c/{imported.pk}/"
    assert (
        imported.owner == user and imported.shared_with is None and imported.title == "Shared notes"
    )
    before = json.loads(raw)["messages"]
    after = json.loads(export.as_json(imported))["messages"]
    assert [{k: m[k] for k in KEPT} for m in after] == [{k: m[k] for k in KEPT} for m in before]


def test_a_live_answer_is_imported_as_interrupted(user):
    source = conversation(user)
    exchange(source, "q", "half", status="streaming")
    imported = importing.import_conversation(user=user, raw=export.as_json(source))
    assert list(imported.messages.values_list("status", flat=True)) == ["completed", "interrupted"]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"not json", "not JSON"),
        (b'{"format": "other"}', "not a conversation exported"),
        (b'{"format": "chat-conversation", "version": 9}', "version 9"),
        (
            b'{"format": "chat-conversation", "version": 1, "conversation": {}, '
            b'"messages": [{"role": "system", "text": "x"}]}',
            "messages.0.role",
        ),
        (
            b'{"format": "chat-conversation", "version": 1, "conversation": {"title": "'
            + b"x" * 300
            + b'"}, "messages": []}',
            "conversation.title",
        ),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(client, user, raw, says):
    client.force_login(user)
    response = upload(client, raw)
    assert response.status_code == 400
    assert says in response.content.decode()
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_too_many_messages_are_refused(user):
    document = {
        "format": "chat-conversation", "version": 1, "conversation": {"title": "t"},
        "messages": [{"role": "user", "text": "x"}] * (importing.MAX_MESSAGES + 1),
    }  # fmt: skip
    with pytest.raises(importing.Refused, match="messages"):
        importing.import_conversation(user=user, raw=json.dumps(document).encode())
    assert not Conversation.objects.exists()
