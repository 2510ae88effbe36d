"""Pages: login, the conversation page as stored, privacy, first run."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_pages_need_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200


def test_home_opens_a_conversation(client, user):
    client.force_login(user)
    response = client.get("/")
    conversation = Conversation.objects.get(owner=user)
    assert response["Location"] == f"/c/{conversation.pk}/"


def test_conversation_page_renders_stored_answers_safely(client, user):
    conversation = Conversation.objects.create(owner=user, title="Safety")
    Message.objects.create(conversation=conversation, role="user", text="<b>hi</b>")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="completed",
        text="**bold** <script>alert(1)</script> [x](javascript:alert(1))",
        items=[
            {
                "type": "message",
                "id": "m",
                "output_index": 0,
                "status": "completed",
                "parts": [
                    {
                        "kind": "output_text",
                        "text": "**bold** <script>alert(1)</script> [x](javascript:alert(1))",
                        "annotations": [],
                    }
                ],
                "summary": [],
                "reasoning": [],
                "name": None,
                "call_id": None,
                "arguments": "",
                "input": "",
                "code": "",
                "raw": {},
            }
        ],
    )
    client.force_login(user)
    body = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "<strong>bold</strong>" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert(1)" not in body
    assert 'href="javascript' not in body
    assert "&lt;b&gt;hi&lt;/b&gt;" in body
    assert f'ws-connect="/ws/conversations/{conversation.pk}/"' in body
    assert 'aria-live="polite"' in body


def test_live_answer_shows_stop_and_a_sidebar_dot(client, user):
    conversation = Conversation.objects.create(owner=user, title="Live")
    Message.objects.create(conversation=conversation, role="user", text="q")
    Message.objects.create(
        conversation=conversation, role="assistant", status="streaming", text="partial"
    )
    client.force_login(user)
    body = client.get(f"/c/{conversation.pk}/").content.decode()
    assert 'id="stop-button"' in body
    assert "live-dot" in body
    assert "partial" in body


def test_someone_elses_conversation_is_not_found(client, user, other_user):
    conversation = Conversation.objects.create(owner=other_user, title="Private")
    client.force_login(user)
    assert client.get(f"/c/{conversation.pk}/").status_code == 404


def test_new_conversation_reuses_an_empty_one(client, user):
    client.force_login(user)
    first = client.post("/c/new/")["Location"]
    second = client.post("/c/new/")["Location"]
    assert first == second
    assert client.get("/c/new/").status_code == 405


def test_firstrun_creates_the_admin_once():
    out = StringIO()
    call_command("firstrun", stdout=out)
    password = out.getvalue().split("password: ")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    again = StringIO()
    call_command("firstrun", stdout=again)
    assert again.getvalue() == ""


def test_admin_site_works(admin_client):
    for url in (
        "/admin/",
        "/admin/chat/conversation/",
        "/admin/chat/message/",
        "/admin/chat/usagerecord/",
    ):
        assert admin_client.get(url).status_code == 200
