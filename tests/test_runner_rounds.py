"""TurnRunner's tool rounds, driven directly (no socket): who the tools act for, what each
round's request carries, and how the turn ends when the calls run out or pile up."""

import time

import pytest

from chat.turns import runner as runner_module
from chat.turns.start import start_turn
from tests import tool_kit
from tests.fake_streams import answer_with_outputs, outputs_of, tool_call_stream
from tests.test_runner import run_turn, stored

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
