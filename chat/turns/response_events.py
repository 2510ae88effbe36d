"""Events about the whole response: its lifecycle, its terminal status with usage and the
final `output`, mid-stream `error`s, and event types newer than this code.

Handlers the accumulator (chat/turns/state.py) calls with its TurnFields; the error text a
person sees is ours (TurnFields.set_error), never the server's.
"""

import logging
from typing import Any

from chat.turns import hosted_events, output_items
from chat.turns.bounds import short
from chat.turns.fields import TERMINAL_STATUS, TurnFields
from chat.turns.tokens import usage_from
from chat.upstream.events import StreamEvent

log = logging.getLogger("chat.turns.state")  # the accumulator's logger, as operators know it
_logged_unknown: set[str] = set()  # unknown event types already logged by this process


def lifecycle(state: TurnFields, event: StreamEvent) -> None:
    response = event.response
    if response is not None:
        seen = (state.response_id, state.model, state.background)
        state.response_id = short(response.id) or state.response_id
        state.model = short(response.model) or state.model
        state.background = bool(response.background) or state.background
        if (state.response_id, state.model, state.background) != seen:
            state.pending.status = True
    if event.type not in TERMINAL_STATUS:
        return
    if response is not None:
        _take_terminal(state, response)
    state.set_status(TERMINAL_STATUS[event.type])


def _take_terminal(state: TurnFields, response: Any) -> None:
    if response.usage is not None:
        state.usage = usage_from(response.usage)
        state.raw_usage = response.usage.model_dump(exclude_none=True)
    if response.error is not None:
        state.set_error(response.error.code, response.error.message)
    if response.incomplete_details:
        state.incomplete_reason = short(response.incomplete_details.get("reason"))
    if response.output:
        output_items.rebuild(state, response.output)
    state.pending.status = True


def error(state: TurnFields, event: StreamEvent) -> None:
    info = event.error_info()
    state.set_error(info.code, info.message)


def unknown(state: TurnFields, event: StreamEvent) -> None:
    """A type newer than this code: logged once, kept raw on its item, never fatal."""
    if event.type not in _logged_unknown:
        _logged_unknown.add(event.type)
        log.warning("unknown stream event type %r: kept raw, not shown", event.type[:100])
    if event.item_id is None and event.output_index is None:
        return
    position = state.find_item(event)
    if position is None:
        return
    item = state.items[position]
    hosted_events.keep_unknown(item, event)
    # `response.<its item type>.<step>` reads as a new tool's progress, as the known ones do.
    _, item_type, step = (event.type.split(".", 2) + ["", ""])[:3]
    if item_type == item.type and step.isidentifier() and step not in ("added", "delta", "done"):
        if item.status != step[:40]:
            item.status = step[:40]
            state.mark_changed(position)
