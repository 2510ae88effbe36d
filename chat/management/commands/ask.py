"""`manage.py ask`: one turn from the command line, streamed to stdout and stored like the web's."""

import asyncio
import json
import sys
from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.models import Conversation
from chat.turns import endpoint
from chat.turns.plan import TurnPlan, TurnRejected, plan_turn
from chat.turns.runner import TurnRunner
from chat.turns.snapshot import TurnSnapshot
from chat.turns.state import Changes, TurnState
from chat.upstream.client import close_shared_client

EXIT_NOT_COMPLETED = 1
EXIT_REJECTED = 2
EXIT_INTERRUPTED = 130
ARGUMENT_TYPES = {"function_call", "mcp_call", "mcp_approval_request"}  # JSON arguments


class StdoutPublisher:
    """Prints answer text as it arrives; other items are summarised after the stream."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.printed = 0

    def publish(self, seq: int, state: TurnState, changes: Changes) -> None:
        text = state.text
        if len(text) > self.printed:
            self.out.write(text[self.printed :], ending="")
            self.out.flush()
            self.printed = len(text)


class Command(BaseCommand):
    help = "Ask the model one question; stream the answer and store it as a conversation turn."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prompt", help="what to ask")
        parser.add_argument("--conversation", type=int, help="continue this conversation id")
        parser.add_argument("--user", help="username to store the turn under (default: cli)")
        parser.add_argument("--model", help="model name (default: CHAT_MODEL)")
        parser.add_argument("--json", action="store_true", help="print a JSON summary last")

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._user(options["user"], options["conversation"])
        model = options["model"] or settings.CHAT_MODEL
        try:
            plan = plan_turn(
                user=user,
                conversation_id=options["conversation"],
                text=options["prompt"],
                model=model,
            )
        except TurnRejected as exc:
            self.stderr.write(str(exc))
            sys.exit(EXIT_REJECTED)
        if plan.budget_warning:
            self.stderr.write(plan.budget_warning)
        if endpoint.uses_local_model():
            self.stderr.write(
                "Answering with the small local model SmolLM2-135M (no OPENAI_API_KEY set); "
                "expect short, simple answers."
            )
        runner_box: list[TurnRunner] = []
        interrupted = False
        try:
            asyncio.run(self._run(plan, runner_box))
        except KeyboardInterrupt:
            interrupted = True
        if not runner_box or runner_box[0].started is None:
            raise CommandError("The turn did not start.")
        self._report(runner_box[0], options["json"], interrupted)

    async def _run(self, plan: TurnPlan, runner_box: list[TurnRunner]) -> None:
        try:
            config = await endpoint.upstream_config()
            runner = TurnRunner(
                plan=plan, config=config, publisher=StdoutPublisher(self.stdout), flush_interval=0
            )
            runner_box.append(runner)
            await runner.run()
        finally:
            await close_shared_client()

    def _user(self, username: str | None, conversation_id: int | None) -> Any:
        users = get_user_model()
        if username is None and conversation_id is not None:
            conversation = Conversation.objects.filter(pk=conversation_id).first()
            if conversation is None:
                raise CommandError(f"Conversation {conversation_id} was not found.")
            return conversation.owner
        user, created = users.objects.get_or_create(username=username or "cli")
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user

    def _report(self, runner: TurnRunner, as_json: bool, interrupted: bool) -> None:
        snapshot = runner.snapshot()
        self.stdout.write("")
        if as_json:
            self.stdout.write(json.dumps(summary(runner, snapshot), ensure_ascii=False))
        else:
            self.stderr.write(describe(runner, snapshot))
        if interrupted:
            sys.exit(EXIT_INTERRUPTED)
        if snapshot.status != "completed":
            sys.exit(EXIT_NOT_COMPLETED)


def summary(runner: TurnRunner, snapshot: TurnSnapshot) -> dict[str, Any]:
    assert runner.started is not None
    usage = snapshot.usage
    usage_dict = None if usage is None else asdict(usage)
    return {
        "conversation": runner.started.conversation_id,
        "message": runner.started.assistant_message_id,
        "status": snapshot.status,
        "text": snapshot.text,
        "model": snapshot.model or runner.plan.model,
        "response_id": snapshot.response_id,
        "usage": usage_dict,
        "rounds": _rounds(snapshot, usage_dict),
        "items": [_item_summary(item) for item in snapshot.items],
        "error": {"code": snapshot.error_code, "message": snapshot.error_message}
        if snapshot.error_code or snapshot.error_message
        else None,
        "incomplete_reason": snapshot.incomplete_reason,
        "warnings": snapshot.warnings,
    }


def _item_summary(item: dict[str, Any]) -> dict[str, Any]:
    """The item whole: what upstream sent (raw) with what the stream built on top of it."""
    out: dict[str, Any] = {**(item.get("raw") or {})}
    out.update(type=item["type"], id=item.get("id"), status=item.get("status"))
    if item["type"] == "message":
        out["text"] = "".join(p["text"] for p in item["parts"] if p["kind"] == "output_text")
        refusal = "".join(p["text"] for p in item["parts"] if p["kind"] == "refusal")
        if refusal:
            out["refusal"] = refusal
        annotations = [a for p in item["parts"] for a in p.get("annotations", [])]
        if annotations:
            out["annotations"] = annotations
    elif item["type"] == "reasoning":
        out["summary"] = item["summary"]
        if item["reasoning"]:
            out["reasoning"] = item["reasoning"]
    for key in ("name", "call_id", "arguments", "input", "code"):
        if item.get(key) or (key == "arguments" and item["type"] in ARGUMENT_TYPES):
            out[key] = item.get(key)
    return out


def _rounds(snapshot: TurnSnapshot, usage: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each upstream response of the turn; a turn of one response has one round."""
    rounds = getattr(snapshot, "rounds", None)
    if rounds:
        return [r if isinstance(r, dict) else vars(r) for r in rounds]
    return [{"response_id": snapshot.response_id, "status": snapshot.status, "usage": usage}]


def describe(runner: TurnRunner, snapshot: TurnSnapshot) -> str:
    assert runner.started is not None
    parts = [snapshot.status, snapshot.model or runner.plan.model]
    if snapshot.usage is not None:
        parts.append(
            f"{snapshot.usage.input_tokens} in / {snapshot.usage.output_tokens} out tokens"
        )
    parts.append(f"conversation {runner.started.conversation_id}")
    line = "[" + " · ".join(parts) + "]"
    for item in snapshot.items:
        if item["type"] != "message" and item.get("name"):
            line += f"\n[tool call {item['name']}({item.get('arguments') or item.get('input')})]"
    if snapshot.error_message:
        line += f"\n[error {snapshot.error_code}: {snapshot.error_message}]"
    if snapshot.incomplete_reason:
        line += f"\n[incomplete: {snapshot.incomplete_reason}]"
    return line
