"""Hosted tools: offered by the deployment (settings), switched off per conversation by its
owner, and sent as request options to the model server."""

from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client

from chat.models import Conversation
from chat.tools import hosted
from tests import fake_upstream as fake

pytestmark = pytest.mark.django_db(transaction=True)
ALL = ["web_search", "file_search", "code_interpreter", "image_generation", "mcp"]


@pytest.fixture
def offered(settings):
    settings.CHAT_HOSTED_TOOLS = ALL
    settings.CHAT_FILE_SEARCH_VECTOR_STORES = ["vs_1", "vs_2"]
    settings.CHAT_MCP_SERVER_URL = "https://mcp.example.com/sse"
    settings.CHAT_MCP_SERVER_LABEL = "docs"
    settings.CHAT_MCP_ALLOWED_TOOLS = ["search"]
    settings.CHAT_MCP_REQUIRE_APPROVAL = "always"
    return settings


def ask(upstream, *args: str) -> dict:
    upstream.enqueue(fake.text_stream("ok", delay=0))
    call_command("ask", *args, "hi", stdout=StringIO(), stderr=StringIO())
    return upstream.requests[-1]["json"]


def test_every_offered_tool_goes_out_as_a_request_option(upstream, offered):
    body = ask(upstream, "--user", "ana")
    assert body["tools"] == [
        {"type": "web_search"},
        {"type": "file_search", "vector_store_ids": ["vs_1", "vs_2"]},
        {"type": "code_interpreter", "container": {"type": "auto"}},
        {"type": "image_generation", "partial_images": 2},
        {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/sse",
         "require_approval": "always", "allowed_tools": ["search"]},
    ]  # fmt: skip
    assert body["include"] == [
        "web_search_call.action.sources",
        "file_search_call.results",
        "code_interpreter_call.outputs",
    ]


def test_no_tool_offered_sends_no_tools(upstream):
    body = ask(upstream, "--user", "ana")
    assert "tools" not in body and "include" not in body


def test_the_owner_switches_tools_off_for_one_conversation(upstream, offered, django_user_model):
    owner = django_user_model.objects.create_user(username="ana")
    conversation = Conversation.objects.create(owner=owner)
    client = Client()
    client.force_login(owner)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert page.count('type="checkbox" name="tools"') == 5 and "Image generation" in page
    response = client.post(f"/c/{conversation.pk}/tools/", {"tools": ["web_search", "mcp"]})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.hosted_tools_off == ["file_search", "code_interpreter", "image_generation"]
    body = ask(upstream, "--conversation", str(conversation.pk))
    assert [t["type"] for t in body["tools"]] == ["web_search", "mcp"]
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert 'value="web_search" id="id_tools_0" checked' in page.replace('" checked', '" checked')
    assert page.count("checked") == 2


def test_a_tool_the_deployment_does_not_offer_cannot_be_switched_on(
    upstream, offered, django_user_model
):
    offered.CHAT_HOSTED_TOOLS = ["web_search"]
    owner = django_user_model.objects.create_user(username="ana")
    conversation = Conversation.objects.create(owner=owner)
    client = Client()
    client.force_login(owner)
    response = client.post(f"/c/{conversation.pk}/tools/", {"tools": ["code_interpreter"]})
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.hosted_tools_off == []
    stranger = Client()
    stranger.force_login(django_user_model.objects.create_user(username="bo"))
    assert stranger.post(f"/c/{conversation.pk}/tools/", {"tools": []}).status_code == 404
    conversation.refresh_from_db()
    assert conversation.hosted_tools_off == []


@pytest.mark.parametrize(
    "change, message",
    [
        ({"CHAT_HOSTED_TOOLS": ["web_serch"]}, "unknown tool(s) web_serch"),
        ({"CHAT_FILE_SEARCH_VECTOR_STORES": []}, "CHAT_FILE_SEARCH_VECTOR_STORES"),
        ({"CHAT_MCP_SERVER_URL": "javascript:x"}, "CHAT_MCP_SERVER_URL"),
        ({"CHAT_MCP_REQUIRE_APPROVAL": "sometimes"}, "always or never"),
    ],
)
def test_bad_settings_fail_loudly(offered, change, message):
    for name, value in change.items():
        setattr(offered, name, value)
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        hosted.offered()


def test_bad_settings_stop_manage_py(offered):
    from django.core.management import CommandError

    offered.CHAT_HOSTED_TOOLS = ["web_serch"]
    with pytest.raises(CommandError, match="chat.E001"):
        call_command("check", stdout=StringIO(), stderr=StringIO())
