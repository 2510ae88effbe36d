"""How a turn records an upstream error: a plain code or "error", our words for it, the
server's text only as a bounded string detail, and a repeat of the same error changes nothing."""

from chat.turns.state import TurnState
from chat.upstream import errors


def test_an_error_without_a_usable_code_is_error_in_our_words():
    state = TurnState()
    state.set_error("<script>", "boom")
    assert (state.error_code, state.error_message) == ("error", errors.describe(None, "error"))
    assert state.error_detail == "boom"
    assert state.take_changes().status is True


def test_a_repeat_of_the_same_error_is_not_a_change():
    state = TurnState()
    state.set_error("server_error", "first")
    state.take_changes()
    state.set_error("server_error", "second")
    assert state.error_detail == "first"
    assert not state.take_changes().status


def test_a_detail_that_is_not_text_is_not_kept():
    for detail in ({"nested": "x"}, ["x"] * 3, 42):
        state = TurnState()
        state.set_error("server_error", detail)
        assert state.error_detail is None
        assert state.error_code == "server_error"
