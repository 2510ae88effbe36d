"""An answer's stored items as input items for a later request (responses-protocol.md §7).

Requests are stateless (no previous_response_id: llama.cpp refuses it), so the model sees
what its tools returned only if the calls and their outputs are sent again. Only whole pairs
go back (a call without its output is refused by the API), reasoning only with its
encrypted content (without it the server cannot use it), and an answer that did not
complete goes back as the text it had, marked as cut off.
"""

from typing import Any

COMPLETED = "completed"
CUT_OFF_NOTE = "[This answer was cut off ({status}); it is incomplete.]"


def answer_input(
    items: list[dict[str, Any]], *, text: str, status: str, reasoning: bool = True
) -> list[dict[str, Any]]:
    """A finished answer as input items for the next turn (`reasoning`: carry encrypted
    reasoning back, for requests with `store: false`)."""
    keep = reasoning and status == COMPLETED
    replayed = input_items(items, reasoning=keep) if items else []
    if status == COMPLETED:
        if not any(i.get("type") == "message" for i in replayed) and text:
            replayed.append(_assistant(text))  # rows stored before items were kept
        return replayed
    replayed = [i for i in replayed if i.get("type") != "message"]
    if text:
        replayed.append(_assistant(f"{text}\n\n{CUT_OFF_NOTE.format(status=status)}"))
    return replayed


def input_items(items: list[dict[str, Any]], *, reasoning: bool = True) -> list[dict[str, Any]]:
    """This turn's items so far, as the input of its next round (or of a later turn)."""
    answered = {i.get("call_id") for i in items if i.get("type") == "function_call_output"}
    called = {
        i.get("call_id")
        for i in items
        if i.get("type") == "function_call" and i.get("call_id") in answered
    }
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            text = _message_text(item)
            if text:
                out.append(_assistant(text))
        elif kind == "function_call" and item.get("call_id") in called:
            out.append(
                {
                    "type": "function_call",
                    "call_id": item["call_id"],
                    "name": item.get("name") or "",
                    "arguments": item.get("arguments") or "{}",
                }
            )
        elif kind == "function_call_output" and item.get("call_id") in called:
            out.append(
                {
                    "type": "function_call_output",
                    "call_id": item["call_id"],
                    "output": item.get("output") or "",
                }
            )
        elif kind == "reasoning" and reasoning and item.get("encrypted_content") and item.get("id"):
            out.append(_reasoning(item))
    return out


def _message_text(item: dict[str, Any]) -> str:
    # A refusal is kept in history as what the model said.
    return "".join(p.get("text") or "" for p in item.get("parts") or [])


def _assistant(text: str) -> dict[str, Any]:
    # llama.cpp needs "type": "message" on assistant turns (local-model.md).
    return {"type": "message", "role": "assistant", "content": text}


def _reasoning(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": item["id"],
        "summary": [{"type": "summary_text", "text": t} for t in item.get("summary") or []],
        "encrypted_content": item["encrypted_content"],
    }
