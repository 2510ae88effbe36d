"""A turn's rounds as the runner asks them: the request body of each, and the answers to a
round's function calls, run by our tools (DESIGN: a turn is one or more rounds)."""

import asyncio
from collections.abc import Callable
from typing import Any

from django.conf import settings

from chat.conversation_settings import effective
from chat.tools.calls import Call, answer_calls
from chat.tools.registry import Tool, ToolContext
from chat.turns.plan import StartedTurn, TurnPlan
from chat.turns.replay import input_items
from chat.turns.request import round_body
from chat.turns.resume import Resume
from chat.turns.state import COMPLETED, TurnState


class ToolRounds:
    """Part of TurnRunner (chat/turns/runner.py), which sets these and calls the methods."""

    plan: TurnPlan
    chosen: effective.ChatSettings
    state: TurnState
    tools: dict[str, Tool]
    resume: Resume | None
    started: StartedTurn | None
    output_limit: int | None
    _write: "asyncio.Task[StartedTurn] | None"
    _answering: bool
    _flush: Callable[[], None]  # publishes what changed (TurnRunner._flush)

    def _calls_to_answer(self) -> list[Call]:
        """The function calls of a round that completed (a failed round's are not run).
        Without function tools of ours, calls stay as the model made them: none to run."""
        if self.state.status != COMPLETED or not self.tools:
            return []
        return [
            Call(item.call_id, item.name or "", item.arguments)
            for item in self.state.items[self.state.round_start :]
            if item.type == "function_call" and item.call_id
        ]

    async def _answer(self, calls: list[Call]) -> None:
        """Run the calls concurrently; each answer is shown at once as an item of its own."""
        if self._write is not None and not self._write.done():
            # A new conversation's id comes with its rows: a tool must not see None, or not,
            # depending on which finished first (a failed write cancels this task meanwhile).
            await asyncio.wait([self._write])
        context = ToolContext(self.plan.user_id, self._conversation_id())
        self._answering = True
        answers = await answer_calls(calls, tools=self.tools, context=context)
        self._answering = False
        names = {call.call_id: call.name for call in calls}
        for answer in answers:
            self.state.add_item(answer.as_item(names.get(answer.call_id)))
        self._flush()

    def _conversation_id(self) -> int | None:
        if self.started is not None:
            return self.started.conversation_id
        return self.plan.conversation_id

    def _request_body(self) -> dict[str, Any]:
        continued = self.resume is not None and self.resume.then_input is not None
        body = round_body(
            chosen=self.chosen, turn_input=self.plan.input, state=self.state,
            function_tools=bool(self.tools), hosted_tools=self.plan.hosted_tools,
            earlier=self._continued_input() if continued else None,
        )  # fmt: skip
        self.output_limit = body.get("max_output_tokens")
        return body

    def _continued_input(self) -> list[dict[str, Any]]:
        """A continued message: its items before, the approval answer, its items since."""
        assert self.resume is not None and self.resume.then_input is not None
        items = [i.to_dict() for i in self.state.items]
        cut, reasoning = len(self.resume.items), not settings.CHAT_STORE
        return [
            *input_items(items[:cut], reasoning=reasoning),
            *self.resume.then_input,
            *input_items(items[cut:], reasoning=reasoning),
        ]
