"""Where a turn goes in the message tree (chat/tree.py), and the branch that is its input.

A plain send follows the branch on screen; a regenerate answers the same question again (a
sibling answer, never a second copy of the question); an edit is a sibling question. The
target must be on the branch on screen, so what replaces it there is known (`replaces`).
"""

from dataclasses import dataclass
from typing import Any

from chat.models import Message
from chat.tree import Tree


class Refused(Exception):
    """The turn cannot go there; the message says why in words a person understands."""


@dataclass(frozen=True)
class Place:
    """Where a turn goes in the tree, and the messages above it (its input)."""

    above: tuple[Any, ...] = ()
    parent_id: int | None = None
    question_id: int | None = None
    question_text: str = ""
    replaces: tuple[int, ...] = ()
    older_siblings: tuple[int, ...] = ()


def place(tree: Tree, leaf: int | None, regenerate: int | None, edit_of: int | None) -> Place:
    shown = tree.shown(leaf)
    if regenerate is None and edit_of is None:
        parent = shown[-1].id if shown else None
        return Place(above=tuple(shown), parent_id=parent)
    target_id = regenerate if regenerate is not None else edit_of
    role = Message.Role.ASSISTANT if regenerate is not None else Message.Role.USER
    ids = [n.id for n in shown]
    target = tree.by_id.get(target_id)
    if target is None or target.role != role:
        raise Refused(
            "That answer cannot be retried."
            if regenerate is not None
            else "That question cannot be edited."
        )
    if target_id not in ids:
        raise Refused("That message is no longer on the branch shown; reload the page.")
    siblings = tuple(s.id for s in tree.siblings(target.id))
    replaces = tuple(ids[ids.index(target.id) :])
    if regenerate is not None:
        question = tree.by_id.get(target.parent_id)
        if question is None or question.role != Message.Role.USER:
            raise Refused("That answer has no question to ask again.")
        return Place(
            above=tuple(tree.ancestors(question.parent_id)), parent_id=question.id,
            question_id=question.id, question_text=question.text, replaces=replaces,
            older_siblings=siblings,
        )  # fmt: skip
    return Place(
        above=tuple(tree.ancestors(target.parent_id)), parent_id=target.parent_id,
        replaces=replaces, older_siblings=siblings,
    )  # fmt: skip


@dataclass(frozen=True)
class _Node:
    id: int
    parent_id: int | None
    role: Any
    text: Any
    status: Any
    items: Any


def branch_rows(conversation_id: int, above: int | None) -> list[tuple[Any, Any, Any, Any]]:
    """(role, text, status, items) of `above` and its ancestors, first question first."""
    rows = Message.objects.filter(conversation_id=conversation_id).order_by("created_at", "id")
    tree = Tree(
        _Node(*r) for r in rows.values_list("id", "parent_id", "role", "text", "status", "items")
    )
    return [(n.role, n.text, n.status, n.items) for n in tree.ancestors(above)]
