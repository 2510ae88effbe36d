"""The conversation before a turn: its rows, read in one statement, and prior turns as the
stateless input items sent upstream."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chat import sql
from chat.models import Conversation, Message
from chat.turns.replay import answer_input


@dataclass(frozen=True)
class _Row:
    id: int
    parent_id: int | None
    role: Any
    text: Any
    status: Any
    items: Any
    leaf: int | None = None  # the conversation's current_leaf_id
    settings: Any = None  # the conversation's settings and hosted tools off (raw columns)
    hosted_off: Any = None


def history_rows(conversation_id: int, user_id: int) -> list[_Row]:
    """Every message of the conversation, oldest first, with its parent (the tree), the
    conversation's current leaf, settings and hosted tools switched off; no row if the conversation is not the person's, one row of
    Nones if it has no message. Only the owner writes (chat/permissions.py), and only while the
    account is active: is_active is read from the database, so a socket opened before a
    deactivation cannot start answers. One statement, few columns: the ORM's two queries (all
    columns, items JSON decoded) cost 1.7-2.5 ms of CPU (empty conversation to 20 messages),
    this 0.1-0.2 ms; the items column is decoded only for answers (history_input)."""
    user_table = Conversation._meta.get_field("owner").related_model._meta.db_table
    rows = sql.execute(
        "SELECT m.id, m.parent_id, m.role, m.text, m.status, m.items, c.current_leaf_id, "
        "c.settings, c.hosted_tools_off "
        f"FROM {Conversation._meta.db_table} c "
        f"INNER JOIN {user_table} u ON u.id = c.owner_id "
        f"LEFT JOIN {Message._meta.db_table} m ON m.conversation_id = c.id "
        "WHERE c.id = %s AND c.owner_id = %s AND u.is_active = %s "
        "ORDER BY m.created_at, m.id",  # Message.Meta.ordering
        [conversation_id, user_id, True],
    )[1]
    return [_Row(*row) for row in rows]


def history_input(rows: list[tuple[Any, Any, Any, Any]]) -> list[dict[str, Any]]:
    """Prior turns, from (role, text, status, items) rows, as stateless input items (no
    previous_response_id: llama.cpp refuses it): an answer's tool calls with their outputs
    (and reasoning where kept) go back with its text (chat/turns/replay.py)."""
    items: list[dict[str, Any]] = []
    reasoning = not settings.CHAT_STORE
    for role, text, status, stored in rows:
        if role == Message.Role.USER:
            if text:
                items.append({"role": "user", "content": text})
        elif role is not None:
            answer = _replayed_items(stored, reasoning)
            items.extend(answer_input(answer, text=text or "", status=status, reasoning=reasoning))
    return items


def _replayed_items(stored: Any, reasoning: bool) -> list[dict[str, Any]]:
    """An answer's items, decoded only when more than its text goes back: tool outputs, or
    reasoning on stateless requests (decoding every answer cost ~15 µs each, bench.dbcost)."""
    if isinstance(stored, str):
        if not reasoning and "function_call_output" not in stored:
            return []  # text only: the row's text says it all
        stored = sql.from_db(Message, "items", stored)
    return stored if isinstance(stored, list) else []
