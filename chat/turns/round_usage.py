"""A turn's usage in the ledger, one row per round (a tool round, a Continue, ...)."""

from dataclasses import replace
from typing import Any

from chat.models import Message
from chat.turns.snapshot import TurnSnapshot
from chat.turns.state import TokenUsage
from chat.usage.ledger import Owner, owner_of, record_usage


def record_round_usage(
    *,
    message: Message,
    snapshot: TurnSnapshot,
    input_chars: int,
    requested_model: str = "",
    owner: Owner | None = None,
) -> list[Any]:
    """A ledger row for each round of a turn (a tool round, ...): the finished rounds from
    their records, the last one from the snapshot itself. `owner`: as the caller read it."""
    if len(snapshot.rounds) <= 1:
        last = record_usage(
            message=message, snapshot=snapshot, input_chars=input_chars,
            requested_model=requested_model, owner=owner,
        )  # fmt: skip
        return [last] if last else []
    records = []
    owner = owner or owner_of(message.conversation_id)  # one read for all its rounds
    starts = [int(r.get("start") or 0) for r in snapshot.rounds] + [len(snapshot.items)]
    for number, done in enumerate(snapshot.rounds):
        if done.get("billed"):
            continue  # ledgered when the message first ended (it went on after an approval)
        items = snapshot.items[starts[number] : starts[number + 1]]
        usage = done.get("usage")
        last = number == len(snapshot.rounds) - 1
        round_snapshot = replace(
            snapshot,
            status=snapshot.status if last else done.get("status") or snapshot.status,
            text=_text_of(items),
            items=items,
            response_id=snapshot.response_id if last else done.get("response_id"),
            usage=snapshot.usage if last else TokenUsage(**usage) if usage else None,
            raw_usage=snapshot.raw_usage if last else done.get("raw_usage"),
            events=snapshot.events if last else done.get("events") or 0,
        )
        record = record_usage(
            message=message, snapshot=round_snapshot, input_chars=input_chars,
            requested_model=requested_model, owner=owner,
        )  # fmt: skip
        if record is not None:
            records.append(record)
    return records


def _text_of(items: list[dict[str, Any]]) -> str:
    return "".join(
        p.get("text") or ""
        for i in items
        if i.get("type") == "message"
        for p in i.get("parts") or []
    )
