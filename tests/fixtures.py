"""The recorded streams in shared/fixtures, and what their terminal response says."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.fake_upstream import FIXTURES_DIR

JSONL = sorted(p.name for p in FIXTURES_DIR.glob("*.jsonl"))
RAW_SSE = sorted(p.name for p in (FIXTURES_DIR / "raw_sse").glob("*.sse"))
# Not a Responses stream at all (chat completions): it must end as a clear failure.
NOT_RESPONSES = {"llamacpp_smollm2_chat_completions.sse"}


@dataclass
class Expected:
    status: str
    text: str
    tool_calls: list[dict[str, Any]]
    usage: dict[str, Any] | None
    error_code: str | None
    model: str | None
    response_id: str | None


def data_lines(path: Path) -> list[bytes]:
    """Every JSON payload of a fixture, whether JSONL or raw SSE."""
    raw = path.read_bytes()
    if path.suffix == ".jsonl":
        return [line for line in raw.splitlines() if line.strip()]
    out = []
    for line in raw.splitlines():
        if line.startswith(b"data:"):
            value = line[5:].strip()
            if value and value != b"[DONE]":
                out.append(value)
    return out


def fixture_path(name: str) -> Path:
    return FIXTURES_DIR / name if name.endswith(".jsonl") else FIXTURES_DIR / "raw_sse" / name


def expected(name: str) -> Expected:
    """Read the truth from the fixture's terminal event, independently of our accumulator."""
    events = [orjson.loads(line) for line in data_lines(fixture_path(name))]
    terminal = next(
        e
        for e in reversed(events)
        if e.get("type") in ("response.completed", "response.incomplete", "response.failed")
    )
    response = terminal["response"]
    output = response.get("output") or []
    texts = [
        "".join(
            c.get("text", "") for c in item.get("content", []) if c.get("type") == "output_text"
        )
        for item in output
        if item.get("type") == "message"
    ]
    calls = [
        {"name": i["name"], "call_id": i["call_id"], "arguments": i["arguments"]}
        for i in output
        if i.get("type") == "function_call"
    ]
    return Expected(
        status=response["status"],
        text="\n\n".join(t for t in texts if t),
        tool_calls=calls,
        usage=response.get("usage"),
        error_code=(response.get("error") or {}).get("code"),
        model=response.get("model"),
        response_id=response.get("id"),
    )
