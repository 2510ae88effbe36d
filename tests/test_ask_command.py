"""`manage.py ask`: streams, stores, continues, exits honestly, cancels on Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from chat.local_model import stop_local_model
from chat.models import Conversation, Message, UsageRecord
from chat.turns import endpoint
from tests import fake_upstream as fake
from tests.fixtures import JSONL, NOT_RESPONSES, RAW_SSE, expected

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parent.parent


def ask(*args: str) -> tuple[int, list[str], dict]:
    out, err = StringIO(), StringIO()
    code = 0
    try:
        call_command("ask", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        code = exit_.code
    lines = out.getvalue().splitlines()
    return code, lines, json.loads(lines[-1]) if "--json" in args else {}


@pytest.mark.parametrize("name", [n for n in JSONL + RAW_SSE if n not in NOT_RESPONSES])
def test_ask_json_prints_and_stores_each_recording(upstream, name):
    upstream.enqueue(fake.jsonl_file(name) if name.endswith(".jsonl") else fake.sse_file(name))
    code, lines, result = ask("--json", "hi")
    truth = expected(name)
    assert code == (0 if truth.status == "completed" else 1)
    assert result["status"] == truth.status
    assert result["text"] == truth.text
    assert result["model"] == truth.model and result["response_id"] == truth.response_id
    calls = [
        {k: i[k] for k in ("name", "call_id", "arguments")}
        for i in result["items"]
        if i["type"] == "function_call"
    ]
    assert calls == truth.tool_calls
    if truth.usage:
        assert result["usage"]["total_tokens"] == truth.usage["total_tokens"]
        assert (
            result["usage"]["cached_tokens"] == truth.usage["input_tokens_details"]["cached_tokens"]
        )
    assert (result["error"] or {}).get("code") == truth.error_code
    if truth.text:
        assert truth.text.splitlines()[0] in lines[0]  # streamed before the JSON line
    message = Message.objects.get(pk=result["message"])
    assert (message.status, message.text) == (truth.status, truth.text)
    assert UsageRecord.objects.filter(message=message).count() == 1


def test_reasoning_summary_and_tool_call_items_in_json(upstream):
    upstream.enqueue(fake.jsonl_file("gpt51_codex_max_reasoning_summary_fc.jsonl"))
    _, _, result = ask("--json", "compute")
    reasoning, call = result["items"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"][0].startswith("**Calculating")
    assert call == {
        "type": "function_call",
        "id": call["id"],
        "status": "completed",
        "name": "calculator",
        "call_id": "call_AB6AaRZ1FYZB2RwS6A5vbdqn",
        "arguments": '{"a":12,"b":7,"op":"add"}',
    }


def test_conversation_is_continued(upstream):
    upstream.enqueue(
        fake.text_stream("First answer.", delay=0), fake.text_stream("Second.", delay=0)
    )
    _, _, first = ask("--json", "--user", "carol", "one")
    _, _, second = ask("--json", "--conversation", str(first["conversation"]), "two")
    assert second["conversation"] == first["conversation"]
    assert Conversation.objects.get().owner.username == "carol"
    assert Message.objects.filter(conversation_id=first["conversation"]).count() == 4
    sent = [r["json"] for r in upstream.requests if r["method"] == "POST"][-1]
    assert [m["content"] for m in sent["input"]] == ["one", "First answer.", "two"]


def test_failure_exits_non_zero_with_the_reason(upstream):
    upstream.enqueue(
        fake.http_error(
            404,
            {
                "error": {
                    "message": "The model `gpt-nope` does not exist",
                    "code": "model_not_found",
                }
            },
        )
    )
    code, _, result = ask("--json", "--model", "gpt-nope", "hi")
    assert code == 1
    assert result["status"] == "failed"
    assert result["error"]["code"] == "model_not_found"


def test_unknown_conversation_is_a_clear_error(upstream):
    with pytest.raises(Exception, match="not found"):
        call_command("ask", "--conversation", "999", "hi", stdout=StringIO(), stderr=StringIO())


def test_ctrl_c_cancels_and_stores_the_partial_answer(fake_upstream, tmp_path):
    fake_upstream.enqueue(fake.text_stream("slow " * 400, chunk=5, delay=0.01))
    env = {
        **os.environ,
        "OPENAI_BASE_URL": fake_upstream.base_url,
        "OPENAI_API_KEY": "k",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "RUN_DIR": str(tmp_path),
        "DATABASE_URL": "",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    proc = subprocess.Popen(
        [*manage, "ask", "--json", "talk slowly"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.read(20).startswith("slow")  # it is streaming
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    result = json.loads(out.splitlines()[-1])
    assert result["status"] == "cancelled"
    assert 20 <= len(result["text"]) < len("slow " * 400)
    check = subprocess.run(
        [
            *manage,
            "shell",
            "-v0",
            "-c",
            "from chat.models import Message as M; m=M.objects.get(role='assistant'); "
            "print(m.status, len(m.text), m.usage_records.get().estimated)",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert check.stdout.split() == ["cancelled", str(len(result["text"])), "True"]


@pytest.mark.local_model
def test_ask_against_the_real_local_model(settings, tmp_path):
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    settings.USE_LOCAL_MODEL = True
    settings.CHAT_MAX_OUTPUT_TOKENS = 32
    settings.LOCAL_MODEL_STATE_FILE = tmp_path / "local-model.json"
    endpoint.reset()
    try:
        code, _, result = ask("--json", "--model", "smollm2", "Say hello in one short sentence.")
    finally:
        endpoint.reset()
        stop_local_model()  # other tests start it with their own state file
    # llama.cpp says `completed` even when it stopped at the limit: that is incomplete here,
    # and `ask` exits 1 for anything but completed. A small model may or may not stop early.
    cut = result.get("usage", {}).get("output_tokens") == 32
    assert (code, result["status"]) == ((1, "incomplete") if cut else (0, "completed")), result
    assert result["text"].strip()
    assert result["usage"]["output_tokens"] > 0
    record = UsageRecord.objects.get(message_id=result["message"])
    assert record.output_tokens == result["usage"]["output_tokens"] and not record.estimated
