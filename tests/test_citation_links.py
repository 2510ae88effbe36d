"""Citation (source) links shown under an answer: only absolute http(s) URLs become hrefs."""

import pytest

from chat.models import Conversation, Message

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def answer_with_citations(conversation, urls):
    annotations = [
        {"type": "url_citation", "url": url, "title": f"source {i}"} for i, url in enumerate(urls)
    ]
    part = {"kind": "output_text", "text": "Cited.", "annotations": annotations}
    item = {"type": "message", "id": "m", "output_index": 0, "status": "completed"}
    return Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="completed",
        text="Cited.",
        items=[{**item, "parts": [part], "summary": [], "reasoning": [], "raw": {}}],
    )


def test_stored_script_citations_never_become_links(client, user):
    conversation = Conversation.objects.create(owner=user, title="Cites")
    answer_with_citations(
        conversation,
        [
            "javascript:alert(document.cookie)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https://good.example/page",
            "vbscript:x",
        ],
    )
    client.force_login(user)
    body = client.get(f"/c/{conversation.pk}/").content.decode()
    assert 'href="https://good.example/page"' in body
    assert "Sources (1)" in body
    lowered = body.lower()
    assert (
        "javascript:" not in lowered and "vbscript:" not in lowered and "data:text" not in lowered
    )
