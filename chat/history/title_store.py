"""The automatic title's reads and writes (chat/history/titles.py runs the flow).

Plain statements (chat/sql.py), as the turn services have: they run in the server's one
database thread after a conversation's first answer, and through the ORM they cost more CPU
than the turn itself (`python -m bench.dbcost`, 2026-12-02: the plan's three reads 2.9 ms, the
store's eight statements 3.8 ms, against 5-7 ms for a whole turn).
"""

from dataclasses import dataclass

from django.db import transaction

from chat import permissions, sql
from chat.history import manage
from chat.models import Conversation, Message
from chat.turns.snapshot import TurnSnapshot
from chat.usage import ledger

MAX_PROMPT_CHARS = 1500  # of the question and of the answer each


@dataclass(frozen=True)
class TitlePlan:
    conversation_id: int
    question: str
    answer: str
    model: str

    def prompt(self) -> str:
        return (
            f"Question: {self.question[:MAX_PROMPT_CHARS]}\n\n"
            f"Answer: {self.answer[:MAX_PROMPT_CHARS]}"
        )


@dataclass(frozen=True)
class Stored:
    """The title a conversation has now, for every open tab: told once the write is done."""

    conversation: Conversation  # not a loaded row: its id, owner, team and title
    watchers: list[int]  # who may see it (permissions.watchers_of)


@dataclass(frozen=True)
class _Charge:
    """What the ledger needs of a 'message': the title belongs to the conversation only."""

    conversation_id: int
    model: str
    pk: None = None


def read_plan(conversation_id: int, message_id: int, model: str) -> tuple[TitlePlan | None, bool]:
    """The plan, right after the conversation's first completed answer unless a person named
    it; and whether no later turn can need one (its first answer is done). One statement."""
    messages, conversations = Message._meta.db_table, Conversation._meta.db_table
    rows = sql.execute(
        f"SELECT c.title_by_person, a.id, a.text, "
        f"(SELECT q.text FROM {messages} q WHERE q.conversation_id = c.id AND q.role = %s "
        "AND q.id < a.id ORDER BY q.id LIMIT 1) "
        f"FROM {conversations} c LEFT JOIN {messages} a ON a.id = "
        f"(SELECT f.id FROM {messages} f WHERE f.conversation_id = c.id AND f.role = %s "
        "AND f.status = %s ORDER BY f.created_at, f.id LIMIT 1) "
        "WHERE c.id = %s",
        [Message.Role.USER, Message.Role.ASSISTANT, Message.Status.COMPLETED, conversation_id],
    )[1]
    if not rows:
        return None, False
    named, first_id, answer, question = rows[0]
    if named:
        return None, True
    if first_id is None:
        return None, False
    if first_id != message_id:
        return None, True
    return TitlePlan(conversation_id, question or "", answer or "", model), True


def store(
    plan: TitlePlan,
    *,
    title: str,
    fallback: str,
    usage: TurnSnapshot | None = None,
    input_chars: int = 0,
) -> Stored | None:
    """The title request's ledger row (`usage`) and the title, in one transaction: `title`
    (the model's), else the one stored, else `fallback`; never over a person's. None: the
    conversation is gone, or a person named it."""
    with transaction.atomic():
        row = _locked(plan.conversation_id)
        if row is None:
            return None
        named, team_id, owner = row
        if usage is not None:
            charge = _Charge(conversation_id=plan.conversation_id, model=plan.model)
            ledger.record_usage(
                message=charge, snapshot=usage, input_chars=input_chars,
                requested_model=plan.model, owner=owner,
            )  # fmt: skip
        chosen = title or owner.conversation_title or fallback
        if named or not chosen:
            return None
        try:
            chosen = manage.clean_title(chosen)
        except manage.Refused:
            return None
        if chosen != owner.conversation_title and not sql.update(
            Conversation, {"title": chosen}, "id = %s AND NOT title_by_person",
            [plan.conversation_id],
        ):  # fmt: skip
            return None
        conversation = Conversation(
            id=plan.conversation_id, owner_id=owner.user_id, shared_with_id=team_id, title=chosen
        )
        # Told even when unchanged: the first words were stored without telling open tabs.
        return Stored(conversation, permissions.watchers_of(conversation))


def _locked(conversation_id: int) -> tuple[bool, int | None, ledger.Owner] | None:
    """Whether a person named it, the team it is shared with, and its owner (with the names
    the ledger keeps), its row locked until the commit (PostgreSQL; SQLite's IMMEDIATE
    transaction holds the write lock already)."""
    columns, joins = ledger.owner_columns("c")
    lock = " FOR UPDATE OF c" if sql.database().vendor == "postgresql" else ""
    rows = sql.execute(
        f"SELECT c.title_by_person, c.shared_with_id, {columns} "
        f"FROM {Conversation._meta.db_table} c {joins} WHERE c.id = %s{lock}",
        [conversation_id],
    )[1]
    if not rows:
        return None
    named, team_id, *owner = rows[0]
    return bool(named), team_id, ledger.owner_from(owner)
