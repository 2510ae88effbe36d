"""Messages form a tree; a conversation shows one branch of it (pure: no database).

A regenerated answer or an edited question is a sibling of the one it replaces (the same
parent); nothing is overwritten. The conversation remembers a message on the branch on screen
(`current_leaf`); the branch is that message, its ancestors, and below it the newest reply at
each step. Every tab shows that branch and the next turn's input follows it.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class Node(Protocol):
    """Anything with a message's id and parent id (a Message, or a row read by services)."""

    @property
    def id(self) -> int: ...

    @property
    def parent_id(self) -> int | None: ...


@dataclass(frozen=True)
class Nav:
    """Where a message stands among its siblings: ‹ index/count ›."""

    index: int  # 1-based
    count: int
    prev_id: int | None
    next_id: int | None


class Tree:
    """The messages of one conversation, oldest first (created_at, id), as a tree."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = list(nodes)
        self.by_id = {n.id: n for n in self.nodes}
        self.children: dict[int | None, list[Node]] = defaultdict(list)
        for node in self.nodes:
            parent = node.parent_id if node.parent_id in self.by_id else None
            self.children[parent].append(node)

    def ancestors(self, node_id: int | None) -> list[Node]:
        """The message and those above it, first question first ([] for None)."""
        path: list[Node] = []
        seen: set[int] = set()
        node = self.by_id.get(node_id) if node_id is not None else None
        while node is not None and node.id not in seen:  # a cycle cannot loop for ever
            seen.add(node.id)
            path.append(node)
            node = self.by_id.get(node.parent_id) if node.parent_id is not None else None
        return path[::-1]

    def newest_below(self, node_id: int | None) -> list[Node]:
        """From a message down, the newest reply at each step (the message excluded)."""
        path: list[Node] = []
        seen: set[int | None] = {node_id}
        replies = self.children.get(node_id) or []
        while replies and replies[-1].id not in seen:
            node = replies[-1]
            seen.add(node.id)
            path.append(node)
            replies = self.children.get(node.id) or []
        return path

    def shown(self, current: int | None) -> list[Node]:
        """The branch on screen for the conversation's `current_leaf`."""
        if current not in self.by_id:
            current = self.nodes[-1].id if self.nodes else None
        if current is None:
            return []
        return self.ancestors(current) + self.newest_below(current)

    def siblings(self, node_id: int) -> list[Node]:
        node = self.by_id[node_id]
        parent = node.parent_id if node.parent_id in self.by_id else None
        return self.children[parent]

    def nav(self, node_id: int) -> Nav | None:
        """‹ i/n › for a message with siblings; None for one without."""
        siblings = self.siblings(node_id)
        if len(siblings) < 2:
            return None
        index = next(i for i, s in enumerate(siblings) if s.id == node_id)
        return Nav(
            index=index + 1,
            count=len(siblings),
            prev_id=siblings[index - 1].id if index > 0 else None,
            next_id=siblings[index + 1].id if index + 1 < len(siblings) else None,
        )
