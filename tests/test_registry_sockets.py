"""The registry's socket side, driven directly (chat/turns/registry.py): attaching takes the
snapshot of a turn running here or asks the other processes for one, detaching leaves the
groups once the last tab goes, and frames reach each tab in its role's version."""

from chat.turns import bridge as wire
from chat.turns.live import PENDING
from chat.turns.registry import TurnRegistry
from tests.relay_fakes import FakeBridge, FakeTurn, Tab


def registry_with(bridge: FakeBridge | None = None) -> TurnRegistry:
    relay = TurnRegistry()
    relay.bridge = bridge
    return relay


def test_attaching_to_a_turn_running_here_returns_its_snapshot_in_the_tabs_role():
    relay = registry_with(FakeBridge())
    relay.turns[3] = FakeTurn(seq=7)
    writer, viewer = Tab(1, "w"), Tab(2, "v", read_only=True)
    assert relay.attach(3, writer) == (7, "<writer/>")
    assert relay.attach(3, viewer) == (7, "<viewer/>")
    assert relay.watchers[3] == {writer, viewer}
    assert relay.user_watchers[1] == {writer} and relay.user_watchers[2] == {viewer}
    assert relay.bridge.calls == [] and writer.floor == 5.0  # nothing asked elsewhere


def test_attaching_with_no_bridge_and_no_turn_here_waits_for_nothing():
    relay = registry_with(None)
    tab = Tab()
    assert relay.attach(3, tab) is None
    assert tab.floor == 5.0 and relay.watchers[3] == {tab}


def test_attaching_asks_the_turns_process_for_a_snapshot_and_joins_the_watch_group_once():
    relay = registry_with(FakeBridge())
    first, second = Tab(1, "a"), Tab(1, "b")
    assert relay.attach(3, first) is None
    assert first.floor == PENDING
    assert relay.bridge.calls == [
        ("join", "watch.3", None),
        ("group_send", "turn.3", wire.Watch(conversation=3, reply_to="proc.here", socket="a")),
    ]
    relay.bridge.calls.clear()
    assert relay.attach(3, second) is None
    assert relay.bridge.calls == [
        ("group_send", "turn.3", wire.Watch(conversation=3, reply_to="proc.here", socket="b")),
    ]


def test_a_turn_here_whose_rows_are_not_written_yet_is_asked_for_like_a_remote_one():
    relay = registry_with(FakeBridge(channel=None))
    relay.turns[3] = FakeTurn(message_id=None)
    tab = Tab(1, "a")
    assert relay.attach(3, tab) is None
    assert relay.bridge.calls[-1] == (
        "group_send", "turn.3", wire.Watch(conversation=3, reply_to="", socket="a"),
    )  # fmt: skip


def test_detaching_the_last_tab_leaves_the_watch_group_and_tells_the_turns_process():
    relay = registry_with(FakeBridge())
    first, second = Tab(1, "a"), Tab(1, "b")
    relay.attach(3, first)
    relay.attach(3, second)
    relay.bridge.calls.clear()
    relay.detach(3, first)
    assert relay.bridge.calls == [] and relay.watchers[3] == {second}
    assert relay.user_watchers[1] == {second}
    relay.detach(3, second)
    assert 3 not in relay.watchers and 1 not in relay.user_watchers
    assert relay.bridge.calls == [
        ("leave", "watch.3", None),
        ("group_send", "turn.3", wire.Unwatch(conversation=3, reply_to="proc.here")),
    ]


def test_detaching_keeps_the_persons_other_tabs_and_needs_no_bridge():
    relay = registry_with(None)
    here, elsewhere = Tab(1, "a"), Tab(1, "b")
    relay.attach(3, here)
    relay.attach(4, elsewhere)
    relay.detach(3, here)
    assert 3 not in relay.watchers and relay.user_watchers[1] == {elsewhere}


def test_detaching_with_a_channel_not_yet_known_says_so_with_an_empty_reply_to():
    relay = registry_with(FakeBridge(channel=None))
    tab = Tab()
    relay.attach(3, tab)
    relay.detach(3, tab)
    assert relay.bridge.calls[-1] == (
        "group_send", "turn.3", wire.Unwatch(conversation=3, reply_to=""),
    )  # fmt: skip


def test_broadcast_gives_each_tab_its_roles_version_with_the_seq():
    relay = registry_with(None)
    writer, viewer, other = Tab(1, "w"), Tab(2, "v", read_only=True), Tab(3, "o")
    relay.attach(3, writer)
    relay.attach(3, viewer)
    relay.attach(4, other)
    relay.broadcast(3, 9, "<w/>", "<v/>")
    relay.broadcast(3, 10, "<both/>")
    assert writer.got == [(9, "<w/>"), (10, "<both/>")]
    assert viewer.got == [(9, "<v/>"), (10, "<both/>")]
    assert other.got == []
    relay.broadcast(5, 1, "<nobody/>")  # no tab there: nothing, and no entry made
    assert 5 not in relay.watchers


def test_notify_user_reaches_every_tab_of_that_person_with_seq_zero():
    relay = registry_with(None)
    one, two, stranger = Tab(1, "a"), Tab(1, "b"), Tab(2, "c")
    relay.attach(3, one)
    relay.attach(4, two)
    relay.attach(3, stranger)
    relay.notify_user(1, "<dot/>")
    assert one.got == [(0, "<dot/>")] and two.got == [(0, "<dot/>")] and stranger.got == []
    relay.notify_user(9, "<none/>")
    assert 9 not in relay.user_watchers


def event(**fields) -> wire.ConversationEvent:
    base = {"conversation": 3, "origin": "proc.there", "users": [1, 2], "watcher_html": "<t/>",
            "viewer_html": "<tv/>", "user_html": "<side/>", "owner": 1, "owner_html": "<own/>"}  # fmt: skip
    return wire.ConversationEvent(**(base | fields))


def test_a_conversation_event_shows_in_watching_tabs_and_in_each_persons_sidebar():
    relay = registry_with(None)
    owner, viewer = Tab(1, "o"), Tab(2, "v", read_only=True)
    relay.attach(3, owner)
    relay.attach(3, viewer)
    relay.show_conversation_event(event())
    assert owner.got == [(0, "<t/>"), (0, "<own/>")]
    assert viewer.got == [(0, "<tv/>"), (0, "<side/>")]


def test_a_conversation_event_with_no_owner_gives_everyone_the_same_sidebar():
    relay = registry_with(None)
    zero, one = Tab(0, "z"), Tab(1, "o")
    relay.attach(5, zero)
    relay.attach(5, one)
    relay.show_conversation_event(event(users=[0, 1], owner=0, watcher_html=""))
    assert zero.got == [(0, "<side/>")] and one.got == [(0, "<side/>")]


def test_a_conversation_event_sends_no_empty_fragment():
    relay = registry_with(None)
    owner, other = Tab(1, "o"), Tab(2, "x")
    relay.attach(3, owner)
    relay.attach(3, other)
    relay.show_conversation_event(event(watcher_html="", owner_html="", user_html="<s/>"))
    assert owner.got == [] and other.got == [(0, "<s/>")]
    relay.show_conversation_event(event(watcher_html="", user_html="", owner_html="<o/>"))
    assert owner.got == [(0, "<o/>")] and other.got == [(0, "<s/>")]


def test_access_changed_rechecks_each_concerned_tab_once_and_tells_every_process():
    relay = registry_with(FakeBridge())
    by_conversation, by_user, both, untouched = Tab(5, "a"), Tab(2, "b"), Tab(2, "c"), Tab(6, "d")
    relay.attach(3, by_conversation)
    relay.attach(4, by_user)
    relay.attach(3, both)
    relay.attach(9, untouched)
    relay.bridge.calls.clear()
    relay.access_changed(conversations=[3], users=[2])
    assert (by_conversation.rechecks, by_user.rechecks, both.rechecks) == (1, 1, 1)
    assert untouched.rechecks == 0 and relay.access_epoch == 1
    notice = wire.AccessChanged(conversations=[3], users=[2], origin="proc.here")
    assert relay.bridge.calls == [("group_send", "access", notice)]


def test_access_changed_with_no_bridge_rechecks_here_only():
    relay = registry_with(None)
    tab = Tab(2, "b")
    relay.attach(4, tab)
    relay.access_changed(conversations=[], users=[2])
    relay.access_changed(conversations=[8], users=[9])  # nobody here: nothing to do
    assert tab.rechecks == 1 and relay.access_epoch == 2
    assert relay.watchers.keys() == {4} and relay.user_watchers.keys() == {2}


def test_access_changed_names_no_origin_before_the_channel_is_known():
    relay = registry_with(FakeBridge(channel=None))
    relay.access_changed(conversations=[1], users=[])
    assert relay.bridge.calls[0][2].origin == ""
