"""One live turn's relay, driven directly (chat/turns/live.py): frames go to the tabs here and
to each watching process, the screen reader hears new text at most every few seconds and the
end at once, a started turn shows its rows to everyone in their role, and a snapshot first
publishes what is pending."""

import asyncio
from types import SimpleNamespace

import pytest

from chat.turns import bridge as wire
from chat.turns import frames
from chat.turns import live as live_module
from chat.turns.live import LiveTurn, for_watcher
from chat.turns.plan import StartedTurn
from chat.turns.registry import TurnRegistry
from chat.turns.snapshot import TurnSnapshot
from tests.relay_fakes import FakeBridge, Tab, plan


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    tick = Clock()
    monkeypatch.setattr(live_module.time, "monotonic", tick)
    return tick


def relay_with(*tabs: Tab, bridge: FakeBridge | None = None) -> TurnRegistry:
    relay = TurnRegistry()
    relay.bridge = bridge
    for tab in tabs:
        relay.watchers[3].add(tab)
        relay.user_watchers[tab.user_id].add(tab)
    return relay


def state(text: str = "", status: str = "streaming", items: int = 0) -> SimpleNamespace:
    return SimpleNamespace(text=text, status=status, items=[{}] * items)


async def test_a_frame_goes_to_the_tabs_here_and_once_to_each_watching_process():
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay = relay_with(writer, viewer, bridge=FakeBridge())
    turn = LiveTurn(relay, plan(3), 3)
    turn.remote = {"proc.a", "proc.b"}
    turn.send_everywhere(6, "<w/>", "<v/>")
    assert writer.got == [(6, "<w/>")] and viewer.got == [(6, "<v/>")]
    frame = wire.Frame(conversation=3, seq=6, html="<w/>", viewer_html="<v/>")
    assert sorted(relay.bridge.calls) == [("send", "proc.a", frame), ("send", "proc.b", frame)]


async def test_a_frame_with_no_watching_process_needs_no_bridge():
    tab = Tab()
    turn = LiveTurn(relay_with(tab), plan(3), 3)
    turn.send_everywhere(2, "<f/>")
    assert tab.got == [(2, "<f/>")]


async def test_publish_renders_the_delta_counts_the_items_and_sends_it(monkeypatch, clock):
    rendered = []

    def delta(message_id, state, changes, rendered_items):
        rendered.append((message_id, state.text, changes, rendered_items))
        return f"<d{len(rendered)}/>"

    monkeypatch.setattr(frames, "delta_frame", delta)
    tab = Tab()
    turn = LiveTurn(relay_with(tab), plan(3), 3)
    turn.message_id = 21
    turn.publish(1, state("a", items=2), "changes-1")
    turn.publish(2, state("ab", items=3), "changes-2")
    assert rendered == [(21, "a", "changes-1", 0), (21, "ab", "changes-2", 2)]
    assert turn.rendered_items == 3
    assert tab.got == [(1, "<d1/>"), (2, "<d2/>")]


async def test_publish_adds_the_new_text_for_screen_readers_every_few_seconds(monkeypatch, clock):
    monkeypatch.setattr(frames, "delta_frame", lambda *args: "<d/>")
    tab = Tab()
    turn = LiveTurn(relay_with(tab), plan(3), 3)
    turn.message_id = 21
    turn.publish(1, state("One."), None)
    clock.now += live_module.ANNOUNCE_EVERY
    turn.publish(2, state("One. Two."), None)
    assert tab.got == [(1, "<d/>"), (2, "<d/>" + frames.announce_frame("One. Two."))]


async def test_announcements_wait_their_interval_and_say_only_what_is_new(clock):
    turn = LiveTurn(relay_with(), plan(3), 3)
    assert turn._announcement(state("One.")) == ""
    clock.now += live_module.ANNOUNCE_EVERY - 0.01
    assert turn._announcement(state("One.")) == ""
    clock.now += 0.01
    assert turn._announcement(state("One.")) == frames.announce_frame("One.")
    clock.now += 1
    assert turn._announcement(state("One. Two.")) == ""  # too soon after the last
    clock.now += live_module.ANNOUNCE_EVERY
    assert turn._announcement(state("One. Two.")) == frames.announce_frame(" Two.")
    clock.now += live_module.ANNOUNCE_EVERY
    assert turn._announcement(state("One. Two.  ")) == ""  # only blanks: nothing said


async def test_the_end_is_announced_at_once_with_the_rest_of_the_text_and_the_status(clock):
    turn = LiveTurn(relay_with(), plan(3), 3)
    clock.now += live_module.ANNOUNCE_EVERY
    turn._announcement(state("One."))
    ended = turn._announcement(state("One. Two.", "completed"), final=True)
    assert ended == frames.announce_frame("Two. — answer completed.")
    again = turn._announcement(state("One. Two.", "cancelled"), final=True)
    assert again == frames.announce_frame("answer cancelled.")
    told = LiveTurn(relay_with(), plan(3), 3)._announcement(state("Xavier"), final=True)
    assert told == frames.announce_frame("Xavier — answer streaming.")  # only the dash trimmed


async def test_a_shown_turn_shows_its_rows_to_every_tab_in_its_role_and_to_other_processes():
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay = relay_with(writer, viewer, bridge=FakeBridge())
    turn = LiveTurn(relay, plan(3), 3)
    started = StartedTurn(3, 20, 21)
    turn.on_shown(started)
    assert turn.message_id == 21 and not turn.started.done()  # shown, not yet written
    turn.on_started(started)
    assert turn.started.result() == started
    assert writer.floor == 0 and viewer.floor == 0
    rows, viewer_rows = turn._new_rows(started)
    html = rows + frames.turn_controls_frame(live=True)
    viewer_html = viewer_rows + frames.turn_controls_frame(live=True, read_only=True)
    assert html != viewer_html
    assert writer.got == [(0, html), (0, frames.sidebar_dot_frame(3, True))]
    assert viewer.got == [(0, viewer_html)]
    assert relay.bridge.calls == [
        ("join", "turn.3", None),
        ("group_send", "watch.3", wire.TurnStarted(conversation=3, html=html,
                                                   viewer_html=viewer_html)),
    ]  # fmt: skip
    turn.on_started(started)  # a second call (a resumed round) must not fail on the future
    assert turn.started.result() == started


async def test_the_viewers_version_of_new_rows_is_rendered_only_when_a_viewer_may_watch():
    """One process and no read-only socket on the conversation: nobody could receive it."""
    writer = Tab(1, "w")
    relay = relay_with(writer)
    turn = LiveTurn(relay, plan(3), 3)
    assert not relay.needs_viewer_version(3)
    turn.on_shown(StartedTurn(3, 20, 21))
    rows, viewer_rows = turn._new_rows(StartedTurn(3, 20, 21), viewers=False)
    assert viewer_rows is None
    assert writer.got[0] == (0, rows + frames.turn_controls_frame(live=True))
    viewer = Tab(2, "v", read_only=True)
    relay.watchers[3].add(viewer)
    assert relay.needs_viewer_version(3)
    assert not relay.needs_viewer_version(4)
    relay.watchers[3].discard(viewer)
    relay.bridge = FakeBridge()  # other processes may have viewers
    assert relay.needs_viewer_version(3)


async def test_a_started_turn_with_no_bridge_still_resolves_its_start():
    turn = LiveTurn(relay_with(), plan(3), 3)
    turn.on_started(StartedTurn(3, 20, 21))
    assert turn.started.result() == StartedTurn(3, 20, 21)


async def test_new_rows_are_the_question_and_answer_or_the_answer_alone_for_a_regenerate():
    started = StartedTurn(3, 20, 21)
    asked = LiveTurn(relay_with(), plan(3), 3)._new_rows(started)[0]
    assert 'id="m20"' in asked and 'id="m21"' in asked
    again = LiveTurn(relay_with(), plan(3, question_id=20, replaces=(17,)), 3)
    rows = again._new_rows(started)[1]
    assert rows.startswith(frames.removed_rows_frame((17,)))
    assert 'id="m20"' not in rows and 'id="m21"' in rows


async def test_new_rows_come_in_the_viewers_version_for_read_only_tabs(monkeypatch):
    roles = []

    def appended(view, *, read_only=False):
        roles.append((view.id, read_only))
        return f"<{view.id}/>"

    monkeypatch.setattr(frames, "appended_message_frame", appended)
    turn = LiveTurn(relay_with(), plan(3), 3)
    assert turn._new_rows(StartedTurn(3, 20, 21)) == ("<20/><21/>", "<20/><21/>")
    assert roles == [(20, False), (21, False), (20, True), (21, True)]


class PendingRunner:
    def __init__(self) -> None:
        self.seq = 4
        self.flushed = False

    def flush_pending(self) -> None:
        self.flushed, self.seq = True, 5  # the pending changes became frame 5

    def snapshot(self) -> TurnSnapshot:
        assert self.flushed, "the snapshot was taken before the pending frame"
        return TurnSnapshot(status=self.status, text="", items=[], model=self.model)

    model: str | None = "gpt-live"
    status = "streaming"


async def test_a_snapshot_publishes_the_pending_frame_first_and_covers_its_seq():
    turn = LiveTurn(relay_with(), plan(3), 3)
    turn.message_id, turn.runner = 21, PendingRunner()
    seq, html, viewer_html = turn.snapshot_html()
    message = frames.live_message_frame(21, turn.runner.snapshot(), "gpt-x")
    assert seq == 5
    assert html == message + frames.turn_controls_frame(live=True)
    assert viewer_html == message + frames.turn_controls_frame(live=True, read_only=True)


async def test_a_snapshot_of_a_turn_that_failed_before_any_event_names_the_planned_model():
    turn = LiveTurn(relay_with(), plan(3), 3)
    turn.message_id, turn.runner = 21, PendingRunner()
    turn.runner.model, turn.runner.status = None, "failed"  # ending: its footer shows
    _, html, _ = turn.snapshot_html()
    assert "gpt-x" in html


async def test_a_snapshot_needs_both_the_runner_and_the_rows():
    turn = LiveTurn(relay_with(), plan(3), 3)
    turn.runner = PendingRunner()
    with pytest.raises(AssertionError):
        turn.snapshot_html()  # the rows are not written yet: nothing to show
    turn.runner, turn.message_id = None, 21
    with pytest.raises(AssertionError):
        turn.snapshot_html()


def test_a_read_only_tab_gets_the_viewers_version_when_there_is_one():
    writer, viewer = Tab(), Tab(read_only=True)
    assert for_watcher(writer, "<w/>", "<v/>") == "<w/>"
    assert for_watcher(viewer, "<w/>", "<v/>") == "<v/>"
    assert for_watcher(viewer, "<w/>", None) == "<w/>"


async def test_a_new_turn_starts_with_nothing_rendered_or_announced(clock):
    turn = LiveTurn(relay_with(), plan(3), 3)
    assert (turn.message_id, turn.runner, turn.task, turn.rendered_items) == (None, None, None, 0)
    assert turn.remote == set() and not turn.started.done()
    assert turn.started.get_loop() is asyncio.get_running_loop()
    clock.now += live_module.ANNOUNCE_EVERY
    assert turn._announcement(state("Hi")) == frames.announce_frame("Hi")  # from char 0
