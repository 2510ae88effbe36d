"""What the registry does with each message from another process (chat/turns/registry.py's
on_bridge_message): answer a watch with a snapshot, forget an unwatch, stop on cancel, and
show a remote turn's start, snapshot, frames and end to the tabs here, each in its role."""

from chat.turns import bridge as wire
from chat.turns.live import PENDING
from chat.turns.registry import TurnRegistry
from tests.relay_fakes import FakeBridge, FakeTurn, Tab


def relay_watching(*tabs: Tab, conversation: int = 3, bridge=None) -> TurnRegistry:
    relay = TurnRegistry()
    relay.bridge = FakeBridge() if bridge is None else bridge
    for tab in tabs:
        relay.watchers[conversation].add(tab)
        relay.user_watchers[tab.user_id].add(tab)
    return relay


def test_a_watch_for_a_turn_here_is_answered_with_its_snapshot_and_then_its_frames():
    relay = relay_watching()
    turn = relay.turns[3] = FakeTurn(seq=7)
    relay.on_bridge_message(wire.Watch(conversation=3, reply_to="proc.there", socket="k"))
    assert turn.remote == {"proc.there"}
    snapshot = wire.Snapshot(conversation=3, socket="k", seq=7, html="<writer/>",
                             viewer_html="<viewer/>")  # fmt: skip
    assert relay.bridge.calls == [("send", "proc.there", snapshot)]


def test_a_watch_with_no_turn_here_or_no_rows_yet_is_left_unanswered():
    relay = relay_watching()
    relay.on_bridge_message(wire.Watch(conversation=3, reply_to="proc.there", socket="k"))
    turn = relay.turns[3] = FakeTurn(message_id=None)
    relay.on_bridge_message(wire.Watch(conversation=3, reply_to="proc.there", socket="k"))
    assert relay.bridge.calls == [] and turn.remote == set()


def test_an_unwatch_stops_the_frames_to_that_process_only():
    relay = relay_watching()
    turn = relay.turns[3] = FakeTurn()
    turn.remote = {"proc.a", "proc.b"}
    relay.on_bridge_message(wire.Unwatch(conversation=3, reply_to="proc.a"))
    assert turn.remote == {"proc.b"}
    relay.on_bridge_message(wire.Unwatch(conversation=4, reply_to="proc.b"))  # no turn: nothing
    assert turn.remote == {"proc.b"}


def test_a_cancel_stops_the_turn_running_here():
    relay = relay_watching()
    turn = relay.turns[3] = FakeTurn()
    relay.on_bridge_message(wire.Cancel(conversation=3))
    assert turn.runner.cancels == [False]


def test_messages_about_a_turn_running_here_change_nothing_for_the_tabs_here():
    tab = Tab()
    relay = relay_watching(tab)
    relay.turns[3] = FakeTurn()
    for message in (
        wire.TurnStarted(conversation=3, html="<start/>"),
        wire.Snapshot(conversation=3, socket="*", seq=2, html="<snap/>"),
        wire.Frame(conversation=3, seq=3, html="<f/>"),
        wire.Ended(conversation=3, html="<end/>"),
    ):
        relay.on_bridge_message(message)
    assert tab.got == [] and tab.snapshots == [] and tab.floor == 5.0
    assert relay.bridge.calls == []


def test_a_remote_turn_start_shows_its_rows_and_asks_for_its_frames():
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay = relay_watching(writer, viewer)
    relay.on_bridge_message(wire.TurnStarted(conversation=3, html="<w/>", viewer_html="<v/>"))
    assert writer.got == [(0, "<w/>")] and viewer.got == [(0, "<v/>")]
    assert writer.floor == PENDING and viewer.floor == PENDING
    watch = wire.Watch(conversation=3, reply_to="proc.here", socket="*")
    assert relay.bridge.calls == [("group_send", "turn.3", watch)]


def test_a_remote_turn_start_with_no_tab_here_asks_for_nothing():
    relay = relay_watching()
    relay.on_bridge_message(wire.TurnStarted(conversation=3, html="<w/>"))
    assert relay.bridge.calls == [] and 3 not in relay.watchers


def test_a_remote_turn_start_before_the_channel_is_known_asks_with_an_empty_reply_to():
    relay = relay_watching(Tab(), bridge=FakeBridge(channel=None))
    relay.on_bridge_message(wire.TurnStarted(conversation=3, html="<w/>"))
    assert relay.bridge.calls[0][2].reply_to == ""


def test_a_snapshot_goes_to_the_socket_it_names_or_to_every_socket_for_a_star():
    asked, other, viewer = Tab(1, "k"), Tab(1, "x"), Tab(2, "v", read_only=True)
    relay = relay_watching(asked, other, viewer)
    relay.on_bridge_message(wire.Snapshot(conversation=3, socket="k", seq=4, html="<s/>",
                                          viewer_html="<sv/>"))  # fmt: skip
    assert asked.snapshots == [(4, "<s/>")] and other.snapshots == [] and viewer.snapshots == []
    relay.on_bridge_message(wire.Snapshot(conversation=3, socket="*", seq=5, html="<s/>",
                                          viewer_html="<sv/>"))  # fmt: skip
    assert asked.snapshots[-1] == (5, "<s/>") and other.snapshots == [(5, "<s/>")]
    assert viewer.snapshots == [(5, "<sv/>")]
    relay.on_bridge_message(wire.Snapshot(conversation=4, socket="*", seq=1, html="<s/>"))
    assert 4 not in relay.watchers  # nobody watches that one here: nothing to do


def test_remote_frames_and_ends_reach_the_tabs_here_in_their_roles_version():
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    relay = relay_watching(writer, viewer)
    relay.on_bridge_message(wire.Frame(conversation=3, seq=8, html="<f/>", viewer_html="<fv/>"))
    relay.on_bridge_message(wire.Ended(conversation=3, html="<e/>", viewer_html="<ev/>"))
    assert writer.got == [(8, "<f/>"), (0, "<e/>")]
    assert viewer.got == [(8, "<fv/>"), (0, "<ev/>")]


def test_an_access_notice_from_another_process_rechecks_here_but_not_our_own():
    tab = Tab(2, "a")
    relay = relay_watching(tab)
    relay.on_bridge_message(wire.AccessChanged(users=[2], origin="proc.here"))
    assert tab.rechecks == 0 and relay.access_epoch == 0
    relay.on_bridge_message(wire.AccessChanged(users=[2], origin="proc.there"))
    assert tab.rechecks == 1 and relay.access_epoch == 1


def test_an_access_notice_rechecks_when_there_is_no_bridge_to_compare_with():
    tab = Tab(2, "a")
    relay = relay_watching(tab)
    relay.bridge = None
    relay.on_bridge_message(wire.AccessChanged(conversations=[3]))
    assert tab.rechecks == 1


def conversation_event(origin: str) -> wire.ConversationEvent:
    return wire.ConversationEvent(conversation=3, origin=origin, users=[], watcher_html="<r/>",
                                  user_html="")  # fmt: skip


def test_a_conversation_event_is_shown_unless_this_process_sent_it():
    tab = Tab()
    relay = relay_watching(tab)
    relay.on_bridge_message(conversation_event("proc.here"))
    assert tab.got == []
    relay.on_bridge_message(conversation_event("proc.there"))
    assert tab.got == [(0, "<r/>")]
    relay.bridge = None
    relay.on_bridge_message(conversation_event("proc.here"))
    assert tab.got == [(0, "<r/>"), (0, "<r/>")]


def test_a_conversation_event_is_shown_even_while_a_turn_runs_here():
    tab = Tab()
    relay = relay_watching(tab)
    relay.turns[3] = FakeTurn()
    relay.on_bridge_message(conversation_event("proc.there"))
    assert tab.got == [(0, "<r/>")]
