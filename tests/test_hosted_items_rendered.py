"""Hosted tools, refusals and reasoning as a person sees them: live (mid-stream frames) and
after a reload (the stored message), from recordings and from synthetic streams."""

import html
import re

import orjson
import pytest

from chat.models import Message
from chat.turns import frames
from chat.turns.snapshot import snapshot_of
from chat.turns.state import TurnState
from chat.upstream.events import parse_event
from tests import hosted_streams as synth
from tests.fake_upstream import FIXTURES_DIR
from tests.fixtures import JSONL, data_lines, expected, fixture_path

MESSAGE_ID = 7
COMPAT = sorted(f"compat/{p.name}" for p in (FIXTURES_DIR / "compat").glob("*.jsonl"))


def events_of(name: str) -> list[bytes]:
    return (
        data_lines(FIXTURES_DIR / name)
        if name.startswith("compat/")
        else data_lines(fixture_path(name))
    )


def replay(lines: list[bytes], *, until: str | None = None) -> tuple[TurnState, str]:
    """Apply events (up to and including the first of type `until`); also build every
    delta frame on the way, as the relay would, and return them joined."""
    state, out, rendered = TurnState(), [], 0
    for line in lines:
        event = parse_event(line)
        state.apply(event)
        changes = state.take_changes()
        if changes:
            out.append(frames.delta_frame(MESSAGE_ID, state, changes, rendered))
            rendered = len(state.items)
        if until and event.type == until:
            break
    return state, "".join(out)


def dumps(evs: list[dict]) -> list[bytes]:
    return [orjson.dumps(e) for e in evs]


def live_html(state: TurnState) -> str:
    return frames.live_message_frame(MESSAGE_ID, snapshot_of(state), "gpt-5-mini")


def stored_html(state: TurnState) -> str:
    message = Message(
        id=MESSAGE_ID, role="assistant", status=state.status, text=state.text,
        items=[i.to_dict() for i in state.items], model=state.model or "",
    )  # fmt: skip
    message.prefetched_usage = []
    return frames.stored_message_frame(message)


def visible(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", markup))


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z]{3,}", text)[:4]


@pytest.mark.parametrize("name", JSONL + COMPAT)
def test_every_recording_renders_live_and_after_reload(name):
    lines = events_of(name)
    truth = expected(name) if not name.startswith("compat/") else None
    state, live_frames = replay(lines)
    stored = stored_html(state)
    mid_state, _ = replay(lines[: len(lines) // 2])
    live = live_html(mid_state)
    for position in range(len(state.items)):
        assert f'id="m{MESSAGE_ID}-i{position}"' in stored
    for markup in (stored, live, live_frames):
        assert "<script" not in markup
    if state.text:
        seen = visible(stored)
        assert all(w in seen for w in words(state.text)), name
    if truth is not None:
        assert state.status == truth.status
    for item in state.items:  # no raw progress steps shown as statuses
        assert item.status not in ("added", "delta", "done")


def test_web_search_shows_a_label_while_searching_then_queries_and_cited_links():
    lines = events_of("gpt5_nano_web_search.jsonl")
    mid, frames_so_far = replay(lines, until="response.web_search_call.searching")
    assert "Searching the web…" in live_html(mid)
    assert "Searching the web…" in frames_so_far
    state, _ = replay(lines)
    page = stored_html(state)
    assert "Searched the web" in page and "Searching the web…" not in page
    links = re.findall(r'<a href="([^"]+)"', page)
    assert links and all(link.startswith(("https://", "http://")) for link in links)
    search = next(i for i in state.items if i.type == "web_search_call")
    query = search.raw["action"]["query"]
    assert html.escape(query, quote=True) in page or html.escape(query) in page


def test_file_search_shows_results_and_file_citations_as_named_sources():
    lines = dumps(synth.file_search())
    mid, _ = replay(lines, until="response.file_search_call.searching")
    assert "Searching files…" in live_html(mid)
    state, _ = replay(lines)
    for page in (live_html(state), stored_html(state)):
        assert "policy.pdf (score 0.91)" in page
        assert "Refunds within &lt;b&gt;30 days&lt;/b&gt;." in page  # escaped, never markup
        assert '<span class="named-source">policy.pdf</span>' in page
        assert "refund policy" in page


def test_code_interpreter_streams_its_code_then_shows_code_and_logs():
    lines = dumps(synth.code_interpreter())
    mid, frames_so_far = replay(lines, until="response.code_interpreter_call_code.delta")
    assert "Running code…" in live_html(mid)
    assert 'hx-swap-oob="beforeend:#m7-i0-code-0"' in frames_so_far or "print(su" in frames_so_far
    state, _ = replay(lines)
    page = stored_html(state)
    assert "Ran code" in page
    assert "print(sum(range(10)))" in page
    assert re.search(r'class="tool-output output-logs">45\s*</pre>', page)


def test_image_generation_shows_a_preview_while_drawing_and_keeps_no_image_in_items():
    lines = dumps(synth.image_generation())
    mid, frames_so_far = replay(lines, until="response.image_generation_call.partial_image")
    assert "Drawing an image…" in live_html(mid)
    assert 'src="data:image/png;base64,' in frames_so_far
    state, _ = replay(lines)
    assert list(state.images) == [0]
    data, mime = state.images[0]
    assert mime == "image/png" and data.startswith(b"\x89PNG")
    stored_items = orjson.dumps([i.to_dict() for i in state.items])
    assert synth.PNG_B64[:40].encode() not in stored_items  # not the final image, not a preview


def test_a_non_image_result_or_preview_is_refused():
    fake = "PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+"  # "<svg onload=alert(1)>" in base64
    evs = synth.image_generation(result=fake)
    for ev in evs:
        if ev["type"].endswith("partial_image"):
            ev["partial_image_b64"] = fake
    state, frames_so_far = replay(dumps(evs))
    assert state.images == {}
    assert "data:image" not in frames_so_far and "svg" not in frames_so_far.lower()


def test_mcp_lists_tools_streams_arguments_and_shows_the_output():
    state, frames_so_far = replay(dumps(synth.mcp_call()))
    assert "Calling a tool…" in frames_so_far
    page = stored_html(state)
    assert "Listed tools" in page and "ask_question" in page
    assert "deepwiki" in page
    assert "What is htmx?" in html.unescape(page)
    assert "htmx gives &lt;i&gt;HTML&lt;/i&gt; AJAX." in page


def test_mcp_call_error_is_shown():
    state, _ = replay(dumps(synth.mcp_call(error="Server said <no>")))
    page = stored_html(state)
    assert "Called a tool — failed" in page
    assert "Server said &lt;no&gt;" in page


def test_shell_call_keeps_its_command_and_output_with_real_statuses():
    lines = dumps(synth.shell_call())
    mid, _ = replay(lines, until="response.shell_call_command.done")
    assert mid.items[0].status == "in_progress"
    assert "Running a command…" in live_html(mid)
    before_terminal, _ = replay(lines, until="response.output_item.done")
    assert before_terminal.items[0].raw["action"]["commands"] == ["ls -la /tmp"]
    assert before_terminal.items[0].raw["output"][0]["stdout"] == "total 0\n<b>x</b>\n"
    state, _ = replay(lines)
    item = state.items[0]
    assert item.raw["action"]["commands"] == ["ls -la /tmp"]
    assert item.status == "completed"
    for page in (stored_html(state),):
        assert "$ ls -la /tmp" in page
        assert "total 0\n&lt;b&gt;x&lt;/b&gt;" in page
        assert ">added<" not in page and ">delta<" not in page and ">done<" not in page


def test_refusal_shows_as_a_refusal_and_is_kept_in_the_text():
    state, frames_so_far = replay(dumps(synth.refusal()))
    assert state.text == "I can't help with that."
    page = stored_html(state)
    assert re.search(r'class="refusal">I can&#x27;t help with that.</div>', page)
    assert "I can" in frames_so_far


def test_reasoning_summary_streams_and_stays():
    lines = events_of("gpt51_codex_max_reasoning_summary_fc.jsonl")
    _, frames_so_far = replay(lines, until="response.reasoning_summary_text.done")
    state, _ = replay(lines)
    summary = state.items[0].summary[0]
    assert summary
    assert "m7-i0-summary-0" in frames_so_far
    assert words(summary)[0] in visible(stored_html(state))
    assert "not shown by the provider" not in stored_html(state)


def test_shell_commands_and_output_are_bounded():
    evs = synth.shell_call()
    flood = [
        {"type": "response.shell_call_command.delta", "output_index": 0, "command_index": 0,
         "delta": "x" * 5_000}
        for _ in range(5)
    ] + [
        {"type": "response.shell_call_output_content.delta", "output_index": 0, "item_id": "sh_1",
         "command_index": 0, "delta": {"stdout": "y" * 10_000}}
        for _ in range(5)
    ] + [
        {"type": "response.shell_call_command.added", "output_index": 0, "command_index": 999,
         "command": "never kept"},
    ]  # fmt: skip
    done_at = next(i for i, e in enumerate(evs) if e["type"] == "response.output_item.done")
    evs = evs[:done_at] + flood + evs[done_at:-1]  # no terminal output: the streamed values stay
    state, _ = replay(dumps(evs))
    raw = state.items[0].raw
    assert len(raw["action"]["commands"]) == 1
    assert len(raw["action"]["commands"][0]) == 8_000
    assert len(raw["output"][0]["stdout"]) == 16_000
    assert "never kept" not in orjson.dumps(raw).decode()
