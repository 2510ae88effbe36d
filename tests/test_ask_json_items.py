"""`manage.py ask --json` shows every round and every item whole, for every recording
(compat/ too) and for the synthetic hosted-tool streams."""

import json
from io import StringIO

import orjson
import pytest
from django.core.management import call_command

from chat.models import GeneratedImage
from tests import fake_upstream as fake
from tests import hosted_streams as synth
from tests.fake_upstream import FIXTURES_DIR
from tests.fixtures import JSONL

pytestmark = pytest.mark.django_db(transaction=True)
COMPAT = sorted(f"compat/{p.name}" for p in (FIXTURES_DIR / "compat").glob("*.jsonl"))
NEVER_KEPT = {"encrypted_content", "result", "content", "summary"}  # compared apart, or opaque


def ask_json() -> dict:
    out, err = StringIO(), StringIO()
    try:
        call_command("ask", "--json", "hi", stdout=out, stderr=err)
    except SystemExit:
        pass
    return json.loads(out.getvalue().splitlines()[-1])


def terminal_response(events: list[dict]) -> dict:
    kinds = ("response.completed", "response.incomplete", "response.failed")
    return next(e for e in reversed(events) if e.get("type") in kinds)["response"]


def assert_items_whole(result: dict, response: dict) -> None:
    output = response.get("output") or []
    assert len(result["items"]) == len(output)
    for shown, sent in zip(result["items"], output, strict=True):
        for key, value in sent.items():
            if key not in NEVER_KEPT:
                assert shown.get(key) == value, (sent["type"], key)
        if sent["type"] == "message":
            text = "".join(
                c.get("text", "") for c in sent["content"] if c.get("type") == "output_text"
            )
            assert shown["text"] == text
        if sent["type"] == "reasoning" and sent.get("summary"):
            assert shown["summary"] == [s["text"] for s in sent["summary"]]
        if sent["type"] != "function_call" and "arguments" not in sent:
            assert "arguments" not in shown  # no empty `arguments` on items without any
    rounds = result["rounds"]
    assert [r["response_id"] for r in rounds] == [response["id"]]
    assert rounds[0]["status"] == response["status"]
    if response.get("usage"):
        assert rounds[0]["usage"]["total_tokens"] == response["usage"]["total_tokens"]


@pytest.mark.parametrize("name", JSONL + COMPAT)
def test_every_recording_comes_back_whole(upstream, name):
    upstream.enqueue(fake.jsonl_file(name))
    events = [
        orjson.loads(line)
        for line in (FIXTURES_DIR / name).read_bytes().splitlines()
        if line.strip()
    ]
    assert_items_whole(ask_json(), terminal_response(events))


@pytest.mark.parametrize("kind", sorted(synth.SYNTHETIC))
def test_every_hosted_tool_comes_back_whole(upstream, kind, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    events = synth.SYNTHETIC[kind]()
    upstream.enqueue(fake.events(events))
    result = ask_json()
    assert_items_whole(result, terminal_response(events))
    if kind == "shell":
        assert result["items"][0]["action"]["commands"] == ["ls -la /tmp"]
        assert result["items"][0]["output"][0]["stdout"].startswith("total 0")
    if kind == "image_generation":
        image = GeneratedImage.objects.get()
        assert result["items"][0]["image"] == {
            "id": image.pk,
            "mime": "image/png",
            "size": image.size,
        }
        assert "result" not in result["items"][0]
