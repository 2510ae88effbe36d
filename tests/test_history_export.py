"""Export: JSON holds exactly what is stored, Markdown reads, the zip streams."""

import io
import json
import zipfile

import pytest
from django.urls import reverse

from chat.history import export
from chat.models import Conversation, Message
from tests.history_factories import conversation, exchange, team_with

pytestmark = pytest.mark.django_db


def stored_row(instance) -> dict:
    """What the database holds for a row, read back fresh, as the export must show it."""
    fresh = type(instance).objects.get(pk=instance.pk)
    return {f.attname: f.value_from_object(fresh) for f in fresh._meta.concrete_fields}


def test_json_round_trip_holds_exactly_what_is_stored(client, user):
    convo = conversation(user, "Round trip")
    question, answer = exchange(convo, "What is 2+2?", "4, with <b>markup</b> kept as text.")
    Message.objects.filter(pk=answer.pk).update(
        items=[{"type": "reasoning", "summary": ["add"], "reasoning": []},
               {"type": "message", "parts": [{"kind": "output_text", "text": "4",
                                              "annotations": [{"url": "https://e.x/a", "title": "A"}]}]}],
        response_id="resp_123", incomplete_reason="", warnings=["w1"],
    )  # fmt: skip
    client.force_login(user)
    response = client.get(reverse("history:export", args=[convo.pk, "json"]))
    assert response["Content-Disposition"].startswith("attachment;")
    document = json.loads(response.content)
    assert document["format"] == "chat-conversation" and document["version"] == 1
    exported = {m["id"]: m for m in document["messages"]}
    for message in (question, answer):
        truth = stored_row(message)
        row = exported[message.pk]
        for name, value in truth.items():
            if name in ("lease_owner", "lease_expires_at"):
                assert name not in row
                continue
            expected = value.isoformat() if hasattr(value, "isoformat") else value
            assert row[name] == expected, name
    truth = stored_row(convo)
    for name, value in truth.items():
        expected = value.isoformat() if hasattr(value, "isoformat") else value
        assert document["conversation"][name] == expected, name
    assert document["conversation"]["owner_username"] == "alice"


def test_json_carries_the_usage_ledger_rows(user):
    from chat.models import UsageRecord

    convo = conversation(user)
    _, answer = exchange(convo, "q", "a")
    UsageRecord.objects.create(
        message=answer, conversation=convo, user=user, model="m", response_id="resp_1",
        status="completed", input_tokens=11, output_tokens=7, total_tokens=18,
    )  # fmt: skip
    related = json.loads(export.as_json(convo))["related"]
    rows = next(rows for label, rows in related.items() if label.endswith("usagerecord"))
    assert [(r["response_id"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
        ("resp_1", 11, 7)
    ]


def test_markdown_reads_as_a_transcript(client, user):
    convo = conversation(user, "Eggs")
    exchange(convo, "How long to boil?", "Nine **minutes**.")
    client.force_login(user)
    text = client.get(reverse("history:export", args=[convo.pk, "md"])).content.decode()
    assert text.startswith("# Eggs\n")
    assert "## You\n\nHow long to boil?" in text and "Nine **minutes**." in text
    assert "## Assistant (gpt-test, completed)" in text


def test_export_is_for_those_who_may_read_it(client, user, other_user):
    private = conversation(other_user, "Private")
    team = team_with(user, other_user)
    shared = conversation(other_user, "Shared", shared_with=team)
    client.force_login(user)
    assert client.get(reverse("history:export", args=[private.pk, "json"])).status_code == 404
    assert client.get(reverse("history:export", args=[shared.pk, "json"])).status_code == 200
    assert client.get(reverse("history:export", args=[shared.pk, "exe"])).status_code == 404


def test_zip_of_everything_streams_and_opens(client, user, other_user):
    mine = [conversation(user, f"Mine {i}") for i in range(120)]  # more than one batch
    for convo in mine[:3]:
        exchange(convo, "q", "answer " * 2000)
    conversation(other_user, "Not mine")
    client.force_login(user)
    response = client.get(reverse("history:export_all"))
    assert response.streaming and response["Content-Type"] == "application/zip"
    chunks = list(response.streaming_content)
    assert len(chunks) > 100  # written and sent member by member, not built whole
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == 240 and not any("not-mine" in n for n in names)
    first = json.loads(archive.read(f"conversations/{export.filename(mine[0], 'json')}"))
    assert first["conversation"]["title"] == "Mine 0" and len(first["messages"]) == 2


def test_zip_stream_holds_no_more_than_a_member_at_a_time(user):
    convo = conversation(user)
    exchange(convo, "q", "x" * 500_000)
    for i in range(5):
        conversation(user, f"c{i}")
    sizes = [len(chunk) for chunk in export.zip_stream(user)]
    total = sum(sizes)
    assert max(sizes) < total  # many chunks, none of them the whole file
    assert Conversation.objects.filter(owner=user).count() == 6
