"""The bench fake's `+tools` answers: round 1 is a reasoning summary and a clock tool call
(read by the app's own upstream client and accumulator), round 2 the stamped text."""

import subprocess
import sys

import pytest

from bench import procs
from bench.fake import TOOL_MARK, request_key
from chat.turns.state import TurnState
from chat.upstream.client import UpstreamConfig, close_shared_client, stream_response


def test_the_key_is_the_last_user_message_and_a_later_tool_answer_marks_round_two():
    first = [{"role": "user", "content": "bench c1 t1 +tools"}]
    assert request_key(first) == ("bench c1 t1 +tools", False)
    after = first + [{"type": "function_call", "call_id": "c"},
                     {"type": "function_call_output", "call_id": "c", "output": "12:00"}]  # fmt: skip
    assert request_key(after) == ("bench c1 t1 +tools", True)
    again = after + [{"role": "user", "content": "bench c1 t2 +tools"}]
    assert request_key(again) == ("bench c1 t2 +tools", False)
    with pytest.raises(ValueError):
        request_key([{"type": "function_call_output", "output": "x"}])


@pytest.fixture
def fake_url():
    proc = subprocess.Popen([sys.executable, "-m", "bench.fake", "--port", "0", "--deltas", "5",
                             "--rate", "500"], cwd=procs.ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        yield f"http://127.0.0.1:{proc.stdout.readline().split()[1]}/v1"
    finally:
        procs.stop(proc, 5)


async def _state(url: str, items: list) -> TurnState:
    state = TurnState()
    try:
        async for event in stream_response({"model": "m", "input": items},
                                           config=UpstreamConfig(base_url=url)):  # fmt: skip
            state.apply(event)
    finally:
        await close_shared_client()
    return state


async def test_round_one_is_reasoning_and_a_clock_call_then_the_text(fake_url):
    key = "bench c9 t1" + TOOL_MARK
    one = await _state(fake_url, [{"role": "user", "content": key}])
    assert one.status == "completed" and one.text == ""
    kinds = [item.type for item in one.items]
    assert kinds == ["reasoning", "function_call"]
    assert "the time first" in str(one.items[0].to_dict())
    assert one.items[1].name == "current_time"
    answered = [{"role": "user", "content": key},
                {"type": "function_call_output", "call_id": "c", "output": "12:00"}]  # fmt: skip
    two = await _state(fake_url, answered)
    assert two.status == "completed" and two.text == "000 001 002 003 004 "
    stamps = procs.get_json(fake_url.replace("/v1", "/__fake__/stamps"))
    assert list(stamps) == [key] and len(stamps[key]["sent"]) == 5


async def test_an_answer_stops_at_max_output_tokens_as_incomplete(fake_url):
    """The app's title request asks for 24 tokens: the fake must not stream it a whole answer."""
    state = TurnState()
    body = {"model": "m", "input": [{"role": "user", "content": "t"}], "max_output_tokens": 3}
    try:
        async for event in stream_response(body, config=UpstreamConfig(base_url=fake_url)):
            state.apply(event)
    finally:
        await close_shared_client()
    assert (state.status, state.text) == ("incomplete", "000 001 002 ")
    whole = await _state(fake_url, [{"role": "user", "content": "u"}])
    assert (whole.status, whole.text) == ("completed", "000 001 002 003 004 ")
