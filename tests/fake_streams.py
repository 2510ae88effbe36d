"""Scripted Responses streams for the tool loop: a round that ends in function calls (with a
streamed reasoning summary), and helpers to read a tool-loop request's outputs."""

import time
import uuid

import orjson

from tests import fake_upstream as fake


def tool_call_stream(
    calls: list[tuple[str, dict | str]],
    *,
    summary: str = "",
    delay: float = 0.0,
    usage: tuple[int, int] = (20, 10),
    end: str = "close",
) -> fake.Reply:
    """One response: an optional reasoning summary, then one function call per (name,
    arguments), completed with usage. Fresh ids per request."""
    return fake.respond(
        lambda _body: fake.events(_tool_events(calls, summary, usage), delay=delay, end=end)
    )


def _tool_events(calls, summary, usage) -> list[dict]:
    rid = f"resp_tool_{uuid.uuid4().hex[:12]}"
    response = {"id": rid, "object": "response", "created_at": int(time.time()),
                "status": "in_progress", "model": "fake-model", "output": [], "usage": None}  # fmt: skip
    evs: list[dict] = [
        {"type": "response.created", "response": response},
        {"type": "response.in_progress", "response": response},
    ]
    output: list[dict] = []
    if summary:
        rs = {
            "id": f"rs_{rid}",
            "type": "reasoning",
            "summary": [],
            "encrypted_content": "enc-" + rid,
        }
        part = {"type": "summary_text", "text": summary}
        where = {"item_id": rs["id"], "output_index": 0, "summary_index": 0}
        evs += [
            {"type": "response.output_item.added", "output_index": 0, "item": rs},
            {"type": "response.reasoning_summary_part.added", **where, "part": {**part, "text": ""}},
            *({"type": "response.reasoning_summary_text.delta", **where, "delta": w}
              for w in _words(summary)),
            {"type": "response.reasoning_summary_text.done", **where, "text": summary},
            {"type": "response.reasoning_summary_part.done", **where, "part": part},
            {"type": "response.output_item.done", "output_index": 0, "item": {**rs, "summary": [part]}},
        ]  # fmt: skip
        output.append({**rs, "summary": [part]})
    for name, arguments in calls:
        index = len(output)
        text = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
        item = {"id": f"fc_{uuid.uuid4().hex[:10]}", "type": "function_call", "status": "completed",
                "call_id": f"call_{uuid.uuid4().hex[:10]}", "name": name, "arguments": text}  # fmt: skip
        where = {"item_id": item["id"], "output_index": index}
        evs += [
            {"type": "response.output_item.added", "output_index": index,
             "item": {**item, "status": "in_progress", "arguments": ""}},
            {"type": "response.function_call_arguments.delta", **where, "delta": text},
            {"type": "response.function_call_arguments.done", **where, "arguments": text},
            {"type": "response.output_item.done", "output_index": index, "item": item},
        ]  # fmt: skip
        output.append(item)
    tokens_in, tokens_out = usage
    evs.append({"type": "response.completed", "response": {
        **response, "status": "completed", "output": output,
        "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out,
                  "total_tokens": tokens_in + tokens_out}}})  # fmt: skip
    for seq, ev in enumerate(evs):
        ev["sequence_number"] = seq
    return evs


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def outputs_of(body: dict) -> dict[str, str]:
    """name of the called tool -> its function_call_output text, from a request body."""
    names = {i["call_id"]: i["name"] for i in body["input"] if i.get("type") == "function_call"}
    return {
        names.get(i["call_id"], "?"): i["output"]
        for i in body["input"]
        if i.get("type") == "function_call_output"
    }


def answer_with_outputs(**kwargs) -> fake.Reply:
    """A text answer quoting the tool outputs it was sent: proof the outputs reached it."""

    def build(body: dict) -> fake.Reply:
        outputs = outputs_of(body)
        text = "; ".join(f"{name}={output}" for name, output in sorted(outputs.items()))
        return fake.text_stream(f"Results: {text}", **kwargs)

    return fake.respond(build)
