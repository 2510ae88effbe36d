"""Fit a turn's input to the model's context window before anything is sent.

No tokenizer ships its vocabulary cheaply enough for every model here (bpe-openai cost
~146 MB a process, chat/usage/), so tokens are estimated conservatively: a token for every
3 characters (English runs near 4, SmolLM2's tokenizer gave 4.7 on a long message), plus
per-item overhead for the chat template's role markers. Oldest turns are left out first;
the person's new message is never cut: if it alone does not fit, the turn is refused.
"""

import json
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 3
ITEM_OVERHEAD = 8  # tokens: role markers and separators of one input item
REQUEST_OVERHEAD = 32  # tokens: the template's start and the answer's opening
DEFAULT_ANSWER_ROOM = 1024  # tokens kept for the answer when no max_output_tokens is set


class MessageTooLong(Exception):
    """The new message alone does not fit the model; the text says so in plain words."""


@dataclass(frozen=True)
class Fitted:
    input: list[dict[str, Any]]
    left_out: int  # earlier messages (questions and answers) not sent

    @property
    def note(self) -> str:
        if not self.left_out:
            return ""
        return (
            f"{self.left_out} earlier message{'s were' if self.left_out != 1 else ' was'} "
            "left out to fit the model."
        )


def estimate(value: Any) -> int:
    """Estimated tokens of text, an input item or a list of them (upper side)."""
    if isinstance(value, str):
        return -(-len(value) // CHARS_PER_TOKEN)
    if isinstance(value, list):
        return sum(estimate(v) for v in value)
    return ITEM_OVERHEAD + estimate(json.dumps(value, ensure_ascii=False, default=str))


def fit(items: list[dict[str, Any]], *, window: int, answer_room: int, fixed: int = 0) -> Fitted:
    """`items` (history, then the new message last) cut to the window: whole turns from the
    oldest on. `fixed` counts what goes with every request (instructions, tool schemas)."""
    budget = window - (answer_room or min(DEFAULT_ANSWER_ROOM, window // 4)) - fixed
    budget -= REQUEST_OVERHEAD
    *history, newest = items
    need = estimate(newest)
    if need > budget:
        raise MessageTooLong(_too_long(need, budget, window))
    turns = _turns(history)
    sizes = [estimate(turn) for turn in turns]
    total = need + sum(sizes)
    dropped = 0
    while total > budget and dropped < len(turns):
        total -= sizes[dropped]
        dropped += 1
    left_out = sum(_messages(turn) for turn in turns[:dropped])
    kept = [item for turn in turns[dropped:] for item in turn]
    return Fitted([*kept, newest], left_out)


def _turns(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Items grouped by turn: a person's message and everything the answer sent back."""
    turns: list[list[dict[str, Any]]] = []
    for item in items:
        if item.get("role") == "user" or not turns:
            turns.append([])
        turns[-1].append(item)
    return turns


def _messages(turn: list[dict[str, Any]]) -> int:
    """A turn's messages as the page shows them: the question, and its answer if any."""
    asked = 1 if turn and turn[0].get("role") == "user" else 0
    return asked + (1 if len(turn) > asked else 0)


def _too_long(need: int, budget: int, window: int) -> str:
    return (
        f"This message is too long for the model: about {need:,} tokens, and the model reads "
        f"at most {window:,} with room kept for its answer (about {max(budget, 0) * CHARS_PER_TOKEN:,} "
        "characters). Shorten it or split it into parts; nothing was sent."
    )
