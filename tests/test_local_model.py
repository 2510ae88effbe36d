"""Tests for chat.local_model: the real SmolLM2 model served in-process by xllamacpp."""

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from chat import local_model

pytestmark = pytest.mark.local_model


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Start the model once for the whole module; stop it (and check cleanup) at the end."""
    state_file = tmp_path_factory.mktemp("local_model") / "run" / "state.json"
    t0 = time.monotonic()
    base_url = local_model.ensure_local_model(state_file=state_file)
    print(f"\nlocal model started in {time.monotonic() - t0:.2f}s at {base_url}")
    yield base_url, state_file
    local_model.stop_local_model()
    local_model.stop_local_model()  # idempotent
    assert not state_file.exists()


def test_model_path_is_the_98mb_gguf():
    path = local_model.model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert 90_000_000 < path.stat().st_size < 110_000_000


def test_ensure_starts_streams_and_reuses(served):
    base_url, state_file = served
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")

    body = {
        "model": local_model.MODEL_ALIAS,
        "input": "Say hello in one short sentence.",
        "stream": True,
        "max_output_tokens": 24,
        "temperature": 0,
    }
    events, text = [], []
    t0 = time.monotonic()
    # trust_env=False: a proxy from the environment must not intercept loopback traffic
    with httpx.Client(trust_env=False, timeout=30) as client:
        with client.stream("POST", f"{base_url}/responses", json=body) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    events.append(line.removeprefix("event:").strip())
                elif line.startswith("data:"):
                    data = json.loads(line.removeprefix("data:"))
                    if data.get("type") == "response.output_text.delta":
                        text.append(data["delta"])
    print(f"reply in {time.monotonic() - t0:.2f}s: {''.join(text)!r}")
    assert "response.output_text.delta" in events
    assert events[-1] == "response.completed"
    assert "".join(text).strip()

    # started once, reused: same URL, also from concurrent callers
    assert local_model.ensure_local_model(state_file=state_file) == base_url
    with ThreadPoolExecutor(4) as pool:
        urls = list(
            pool.map(lambda _: local_model.ensure_local_model(state_file=state_file), range(4))
        )
    assert urls == [base_url] * 4

    assert json.loads(state_file.read_text()) == {"pid": os.getpid(), "base_url": base_url}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped, so the pid no longer exists
    return proc.pid


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more


def test_stale_state_file_is_not_trusted(served, tmp_path):
    base_url, _ = served
    stale = tmp_path / "stale.json"

    # dead pid (with an otherwise healthy URL) and live pid with a dead port are both rejected
    stale.write_text(json.dumps({"pid": _dead_pid(), "base_url": base_url}))
    assert local_model._read_live_state(stale) is None
    stale.write_text(json.dumps({"pid": os.getpid(), "base_url": _dead_url()}))
    assert local_model._read_live_state(stale) is None
    stale.write_text("{not json")
    assert local_model._read_live_state(stale) is None
    # sanity check: a live pid plus a healthy server is trusted
    stale.write_text(json.dumps({"pid": os.getpid(), "base_url": base_url}))
    assert local_model._read_live_state(stale) == base_url

    # ensure_local_model ignores the stale URL and hands out the running singleton
    dead = _dead_url()
    stale.write_text(json.dumps({"pid": _dead_pid(), "base_url": dead}))
    assert local_model.ensure_local_model(state_file=stale) == base_url != dead


def test_other_process_server_is_reused_and_cleaned_up_at_exit(tmp_path):
    """A server started by another process is trusted while alive; its atexit hook cleans up."""
    state_file = tmp_path / "state.json"
    script = (
        "import pathlib, sys; from chat import local_model; "
        f"print(local_model.ensure_local_model(state_file=pathlib.Path({str(state_file)!r})), flush=True); "
        "sys.stdin.read()"  # keep serving until the test closes stdin
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        child_url = child.stdout.readline().strip()
        assert child_url.endswith("/v1")
        assert json.loads(state_file.read_text()) == {"pid": child.pid, "base_url": child_url}
        assert local_model._read_live_state(state_file) == child_url
    finally:
        child.stdin.close()
        assert child.wait(timeout=10) == 0
    assert not state_file.exists()  # removed by the child's atexit hook
    assert local_model._read_live_state(state_file) is None
