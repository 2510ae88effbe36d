"""Synthetic Responses streams for the hosted tools no recording covers (file search, code
interpreter, image generation, remote MCP, shell, refusal), written from
reference/responses-protocol.md §2 (event shapes, status-only events, results arriving in
`output_item.done`). Each function returns the event dicts, sequence numbers included."""

import time
import uuid
from typing import Any

# A real 1x1 PNG; the image tests decode, store and serve it.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def _response(rid: str, status: str, output: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    usage = {
        "input_tokens": 20, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 12,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 32,
    }  # fmt: skip
    return {
        "id": rid, "object": "response", "created_at": int(time.time()), "status": status,
        "model": "gpt-5-mini", "output": output or [], "error": None, "incomplete_details": None,
        "usage": usage if status == "completed" else None,
    }  # fmt: skip


def _message(index: int, text: str, annotations: list[dict] | None = None) -> list[dict]:
    mid = f"msg_{uuid.uuid4().hex[:12]}"
    where = {"item_id": mid, "output_index": index, "content_index": 0}
    part = {"type": "output_text", "annotations": annotations or [], "logprobs": [], "text": text}
    item = {"id": mid, "type": "message", "role": "assistant", "status": "completed"}
    half = len(text) // 2
    evs = [
        {"type": "response.output_item.added", "output_index": index,
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", **where, "part": {**part, "text": "", "annotations": []}},
        {"type": "response.output_text.delta", **where, "delta": text[:half], "logprobs": []},
        {"type": "response.output_text.delta", **where, "delta": text[half:], "logprobs": []},
    ]  # fmt: skip
    for n, note in enumerate(annotations or []):
        evs.append({"type": "response.output_text.annotation.added", **where,
                    "annotation_index": n, "annotation": note})  # fmt: skip
    evs += [
        {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
        {"type": "response.content_part.done", **where, "part": part},
        {"type": "response.output_item.done", "output_index": index, "item": {**item, "content": [part]}},
    ]  # fmt: skip
    return evs


def _wrap(middle: list[dict], done_items: list[dict]) -> list[dict]:
    rid = f"resp_{uuid.uuid4().hex}"
    evs = [
        {"type": "response.created", "response": _response(rid, "in_progress")},
        {"type": "response.in_progress", "response": _response(rid, "in_progress")},
        *middle,
        {"type": "response.completed", "response": _response(rid, "completed", done_items)},
    ]
    for seq, ev in enumerate(evs):
        ev["sequence_number"] = seq
    return evs


def _final_items(middle: list[dict]) -> list[dict]:
    return [e["item"] for e in middle if e["type"] == "response.output_item.done"]


def _tool(index: int, item: dict, steps: list[str], final: dict, extra: list[dict] = ()) -> list:
    """An item added, its status-only events (and any others), then done with its results."""
    tool = item["type"]
    where = {"item_id": item["id"], "output_index": index}
    evs: list[dict] = [{"type": "response.output_item.added", "output_index": index, "item": item}]
    evs += [{"type": f"response.{tool}.{s}", **where} for s in steps[:-1]]
    evs += list(extra)
    evs += [{"type": f"response.{tool}.{steps[-1]}", **where}] if steps else []
    evs.append(
        {"type": "response.output_item.done", "output_index": index, "item": {**item, **final}}
    )
    return evs


def file_search() -> list[dict]:
    item = {"id": "fs_1", "type": "file_search_call", "status": "in_progress", "queries": []}
    final = {
        "status": "completed", "queries": ["refund policy"],
        "results": [{"file_id": "file-abc", "filename": "policy.pdf", "score": 0.91,
                     "text": "Refunds within <b>30 days</b>.", "attributes": {}}],
    }  # fmt: skip
    cite = {"type": "file_citation", "file_id": "file-abc", "filename": "policy.pdf", "index": 10}
    middle = _tool(0, item, ["in_progress", "searching", "completed"], final)
    middle += _message(1, "Refunds are accepted within 30 days.", [cite])
    return _wrap(middle, _final_items(middle))


def code_interpreter() -> list[dict]:
    item = {"id": "ci_1", "type": "code_interpreter_call", "status": "in_progress", "code": "",
            "container_id": "cntr_1", "outputs": None}  # fmt: skip
    where = {"item_id": "ci_1", "output_index": 0}
    code = "print(sum(range(10)))"
    deltas = [
        {"type": "response.code_interpreter_call_code.delta", **where, "delta": code[:8]},
        {"type": "response.code_interpreter_call_code.delta", **where, "delta": code[8:]},
        {"type": "response.code_interpreter_call_code.done", **where, "code": code},
    ]
    final = {"status": "completed", "code": code, "outputs": [{"type": "logs", "logs": "45\n"}]}
    middle = _tool(0, item, ["in_progress", "interpreting", "completed"], final, deltas)
    middle += _message(1, "The sum is 45.")
    return _wrap(middle, _final_items(middle))


def image_generation(result: str = PNG_B64) -> list[dict]:
    item = {"id": "ig_1", "type": "image_generation_call", "status": "in_progress"}
    where = {"item_id": "ig_1", "output_index": 0}
    partial = {"type": "response.image_generation_call.partial_image", **where,
               "partial_image_index": 0, "partial_image_b64": PNG_B64, "output_format": "png"}  # fmt: skip
    final = {"status": "completed", "result": result, "revised_prompt": "A tiny red dot",
             "output_format": "png", "size": "1024x1024"}  # fmt: skip
    middle = _tool(0, item, ["in_progress", "generating", "completed"], final, [partial])
    middle += _message(1, "Here is your image.")
    return _wrap(middle, _final_items(middle))


def mcp_call(*, error: str | None = None) -> list[dict]:
    tools = {"id": "mcpl_1", "type": "mcp_list_tools", "server_label": "deepwiki",
             "tools": [{"name": "ask_question", "input_schema": {}}]}  # fmt: skip
    call = {"id": "mcp_1", "type": "mcp_call", "server_label": "deepwiki", "name": "ask_question",
            "arguments": "", "status": "in_progress"}  # fmt: skip
    args = '{"question": "What is htmx?"}'
    where = {"item_id": "mcp_1", "output_index": 1}
    deltas = [
        {"type": "response.mcp_call_arguments.delta", **where, "delta": args[:10]},
        {"type": "response.mcp_call_arguments.delta", **where, "delta": args[10:]},
        {"type": "response.mcp_call_arguments.done", **where, "arguments": args},
    ]
    final = {"arguments": args, "status": "failed" if error else "completed",
             "output": None if error else "htmx gives <i>HTML</i> AJAX.", "error": error}  # fmt: skip
    steps = ["in_progress", "failed" if error else "completed"]
    middle = _tool(0, tools, ["in_progress", "completed"], {})
    middle += _tool(1, call, steps, final, deltas)
    middle += _message(2, "It could not be answered." if error else "htmx adds AJAX to HTML.")
    return _wrap(middle, _final_items(middle))


def mcp_approval_request() -> list[dict]:
    request = {"id": "mcpr_1", "type": "mcp_approval_request", "server_label": "deepwiki",
               "name": "ask_question", "arguments": '{"question": "Delete it?"}'}  # fmt: skip
    middle = [
        {"type": "response.output_item.added", "output_index": 0, "item": request},
        {"type": "response.output_item.done", "output_index": 0, "item": request},
    ]
    return _wrap(middle, [request])


def shell_call() -> list[dict]:
    item = {"id": "sh_1", "type": "shell_call", "call_id": "call_sh1", "status": "in_progress",
            "action": {"commands": [], "timeout_ms": 10000}}  # fmt: skip
    command = "ls -la /tmp"
    evs = [
        {"type": "response.shell_call_command.added", "output_index": 0, "command_index": 0, "command": ""},
        {"type": "response.shell_call_command.delta", "output_index": 0, "command_index": 0, "delta": "ls -la"},
        {"type": "response.shell_call_command.delta", "output_index": 0, "command_index": 0, "delta": " /tmp"},
        {"type": "response.shell_call_command.done", "output_index": 0, "command_index": 0, "command": command},
        {"type": "response.shell_call_output_content.delta", "output_index": 0, "item_id": "sh_1",
         "command_index": 0, "delta": {"stdout": "total 0\n"}},
        {"type": "response.shell_call_output_content.done", "output_index": 0, "item_id": "sh_1",
         "command_index": 0, "output": [{"stdout": "total 0\n<b>x</b>\n", "stderr": "",
                                         "outcome": {"type": "exit", "exit_code": 0}}]},
    ]  # fmt: skip
    # The streamed commands must survive a done item that leaves them empty (as here); the
    # terminal output carries them, as the API's does.
    middle = [{"type": "response.output_item.added", "output_index": 0, "item": item}, *evs]
    middle.append({"type": "response.output_item.done", "output_index": 0,
                   "item": {**item, "status": "completed"}})  # fmt: skip
    final = {**item, "status": "completed", "action": {"commands": [command], "timeout_ms": 10000}}
    return _wrap(middle, [final])


def refusal() -> list[dict]:
    mid = "msg_ref"
    where = {"item_id": mid, "output_index": 0, "content_index": 0}
    text = "I can't help with that."
    item = {"id": mid, "type": "message", "role": "assistant", "status": "completed"}
    part = {"type": "refusal", "refusal": text}
    middle = [
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}},
        {
            "type": "response.content_part.added",
            **where,
            "part": {"type": "refusal", "refusal": ""},
        },
        {"type": "response.refusal.delta", **where, "delta": text[:6]},
        {"type": "response.refusal.delta", **where, "delta": text[6:]},
        {"type": "response.refusal.done", **where, "refusal": text},
        {"type": "response.content_part.done", **where, "part": part},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**item, "content": [part]},
        },
    ]
    return _wrap(middle, [{**item, "content": [part]}])


SYNTHETIC = {
    "file_search": file_search,
    "code_interpreter": code_interpreter,
    "image_generation": image_generation,
    "mcp": mcp_call,
    "mcp_approval": mcp_approval_request,
    "shell": shell_call,
    "refusal": refusal,
}
