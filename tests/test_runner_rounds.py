"""TurnRunner's tool rounds, driven directly (no socket): who the tools act for, what each
round's request carries, and how the turn ends when the calls run out or pile up."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from chat.turns import endpoint
from chat.turns import runner as runner_module
from chat.turns.plan import plan_turn
from chat.turns.runner import TurnRunner
from chat.turns.start import start_turn
from chat.upstream.client import close_shared_client
from tests import fake_upstream as fake
from tests import tool_kit
from tests.fake_streams import answer_with_outputs, outputs_of, tool_call_stream
from tests.test_round_state import text_round
from tests.test_runner import Recorder, run_turn, stored

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def tools(settings):
    settings.CHAT_TOOLS = [*tool_kit.BUILTINS, "tests.tool_kit.WHOAMI"]
    settings.CHAT_TOOL_TIMEOUT = 5.0


def posts(upstream) -> list[dict]:
    return [r["json"] for r in upstream.requests if r["method"] == "POST"]


@pytest.fixture
def slow_first_rows(monkeypatch):
    """The first rows are written after the model's first round has ended."""

    def slow_start_turn(**kwargs):
        time.sleep(0.3)
        return start_turn(**kwargs)

    monkeypatch.setattr(runner_module, "start_turn", slow_start_turn)


async def test_tools_act_for_the_person_in_their_new_conversation(upstream, user, slow_first_rows):
    upstream.enqueue(tool_call_stream([("whoami", {})]), answer_with_outputs(delay=0))
    runner = await run_turn(user)
    conversation_id = runner.started.conversation_id
    assert outputs_of(posts(upstream)[1]) == {
        "whoami": f"user={user.pk} conversation={conversation_id}"
    }
    message, _ = await stored(runner)
    assert message.status == "completed"
    assert message.text == f"Results: whoami=user={user.pk} conversation={conversation_id}"


async def test_each_answer_is_stored_under_the_name_of_its_tool(upstream, user):
    upstream.enqueue(
        tool_call_stream([("whoami", {}), ("calculator", {"expression": "6*7"})]),
        answer_with_outputs(delay=0),
    )
    runner = await run_turn(user)
    message, _ = await stored(runner)
    calls = {i["call_id"]: i["name"] for i in message.items if i["type"] == "function_call"}
    answers = [i for i in message.items if i["type"] == "function_call_output"]
    assert sorted(i["name"] for i in answers) == ["calculator", "whoami"]
    assert all(i["name"] == calls[i["call_id"]] for i in answers)


@pytest.mark.parametrize("tool_rounds", [0, 1])
async def test_a_stop_after_the_last_rounds_final_event_keeps_the_turn_completed(
    upstream, user, tool_rounds
):
    last_round = fake.events(text_round("resp_last", "The answer is 42."), end="stall")
    calls = [tool_call_stream([("calculator", {"expression": "6*7"})])] * tool_rounds
    upstream.enqueue(*calls, last_round)
    plan = await sync_to_async(plan_turn)(user=user, conversation_id=None, text="go", model="m")
    frames = Recorder()
    runner = TurnRunner(plan=plan, config=await endpoint.upstream_config(), publisher=frames)
    task = asyncio.create_task(runner.run())
    while not (runner.tool_rounds == tool_rounds and runner.state.is_final):  # stream held
        frames.event.clear()
        await asyncio.wait_for(frames.event.wait(), 5)
    assert runner.cancel() is True  # the stream still runs: the Stop is taken...
    snapshot = await asyncio.wait_for(task, 10)
    await close_shared_client()
    message, _ = await stored(runner)
    assert message.status == snapshot.status == "completed"  # ...but the answer was whole
    assert message.text.endswith("The answer is 42.")
