"""delta_frame (chat/turns/frames.py): what one flush sends. Items new to the page go at the
end of the message's item list, items already on it are swapped by id, positions past the
items are skipped; appended text goes, escaped, to its part; the status badge only when the
status changed, the error box when the status or the warnings did; nothing for no change."""

from chat.turns import frames
from chat.turns.item_list import Changes
from chat.turns.state import TurnState

TEXT = {
    "type": "message",
    "id": "msg_1",
    "status": "in_progress",
    "parts": [{"kind": "output_text", "text": "Hi *<b>*", "annotations": []}],
}
CALL = {
    "type": "function_call",
    "id": "fc_1",
    "status": "completed",
    "name": "lookup",
    "call_id": "c1",
    "arguments": "{}",
}
APPEND_TO_ITEMS = '<div hx-swap-oob="beforeend:#m7-items">'


def streaming(status: str = "streaming") -> TurnState:
    state = TurnState.restore(
        items=[TEXT, CALL], status=status, response_id="r", model="m", last_seq=1,
        background=False,
    )  # fmt: skip
    state.error_code, state.error_message = "rate_limited", "Slow <down>"
    state.guard.warn("custom", "Cut <short>.")
    return state


def test_items_on_the_page_are_swapped_new_ones_appended_and_those_past_the_end_skipped():
    html = frames.delta_frame(7, streaming(), Changes(items={5, 2, 1, 0}), 1)
    assert html.startswith('<div hx-swap-oob="true" id="m7-i0" class="item item-message">')
    swapped, appended = html.split(APPEND_TO_ITEMS)
    assert 'id="m7-i1"' not in swapped and "<code>lookup</code>" in appended
    assert appended.count('class="item ') == 1 and appended.endswith("</div></div>")
    assert 'id="m7-i2"' not in html and 'id="m7-i5"' not in html
    assert html.count(APPEND_TO_ITEMS) == 1
    assert "status" not in html.replace('class="tool-status"', "") and "m7-error" not in html


def test_a_changed_items_text_is_plain_escaped_text_while_streaming():
    html = frames.delta_frame(7, streaming(), Changes(items={0}), 2)
    assert '<div id="m7-i0-text-0" class="answer-text streaming">Hi *&lt;b&gt;*</div>' in html
    assert "<em>" not in html and "markdown" not in html


def test_two_items_new_to_the_page_are_appended_in_order():
    html = frames.delta_frame(7, streaming(), Changes(items={1, 0}), 0)
    assert html.count(APPEND_TO_ITEMS) == 2
    assert html.index('id="m7-i0"') < html.index('id="m7-i1"')


def test_a_status_change_sends_the_badge_and_the_error_box():
    html = frames.delta_frame(7, streaming(), Changes(status=True), 2)
    badge = '<span hx-swap-oob="true" id="m7-status" class="badge badge-streaming">Writing…</span>'
    assert html.startswith(badge + '<div hx-swap-oob="true" id="m7-error" class="error-slot">')
    assert "Slow &lt;down&gt;" in html and "Cut &lt;short&gt;." in html
    assert "m7-i0" not in html


def test_a_failed_status_shows_its_label_message_and_code():
    html = frames.delta_frame(7, streaming("failed"), Changes(status=True), 2)
    assert 'id="m7-status" class="badge badge-failed">Failed</span>' in html
    assert "Slow &lt;down&gt; <code>rate_limited</code>" in html


def test_a_new_warning_sends_the_error_box_alone():
    html = frames.delta_frame(7, streaming(), Changes(warnings=True), 2)
    assert html.startswith('<div hx-swap-oob="true" id="m7-error" class="error-slot">')
    assert "Cut &lt;short&gt;." in html and "m7-status" not in html


def test_appended_text_goes_escaped_to_each_part_it_belongs_to():
    changes = Changes(appended={(0, "text", 0): "a<b", (1, "arguments", 2): '{"q"'})
    assert frames.delta_frame(7, streaming(), changes, 2) == (
        '<span hx-swap-oob="beforeend:#m7-i0-text-0">a&lt;b</span>'
        '<span hx-swap-oob="beforeend:#m7-i1-arguments-2">{&quot;q&quot;</span>'
    )


def test_no_change_sends_nothing():
    assert frames.delta_frame(7, streaming(), Changes(), 2) == ""
