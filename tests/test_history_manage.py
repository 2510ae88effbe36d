"""Rename, archive, delete: the services, their permission checks, and the events they send."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from chat.history import manage
from chat.models import Conversation, Message
from chat.turns import bridge as wire
from chat.turns.registry import registry
from tests.history_factories import conversation, exchange, team_with

pytestmark = pytest.mark.django_db


class Tab:
    """A socket as the registry sees it: records what it is sent."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.socket_key = f"tab-{id(self)}"
        self.floor = 0
        self.received: list[str] = []
        self.read_only = False

    def deliver(self, seq: int, html: str) -> None:
        self.received.append(html)

    def deliver_snapshot(self, seq: int, html: str) -> None:
        self.received.append(html)


@pytest.fixture
def tabs():
    """Two tabs of one person attached to the process registry, detached afterwards."""
    attached: list[tuple[int, Tab]] = []

    def open_tab(user, conversation_id: int) -> Tab:
        tab = Tab(user.pk)
        registry().watchers[conversation_id].add(tab)
        registry().user_watchers[user.pk].add(tab)
        attached.append((conversation_id, tab))
        return tab

    yield open_tab
    for conversation_id, tab in attached:
        registry().watchers[conversation_id].discard(tab)
        registry().user_watchers[tab.user_id].discard(tab)


def test_rename_shows_in_every_tab_after_commit(
    client, user, tabs, django_capture_on_commit_callbacks
):
    convo = conversation(user, "Old name")
    here, elsewhere = tabs(user, convo.pk), tabs(user, conversation(user).pk)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("history:rename", args=[convo.pk]), {"title": "  New   name "}
        )
    assert response.status_code == 200 and "New name" in response.content.decode()
    convo.refresh_from_db()
    assert convo.title == "New name" and convo.title_by_person
    assert any('id="conversation-title"' in h and "New name" in h for h in here.received)
    assert any(f'id="conv-{convo.pk}-name"' in h for h in elsewhere.received)


def test_rename_escapes_the_title(client, user, tabs, django_capture_on_commit_callbacks):
    convo = conversation(user)
    tab = tabs(user, convo.pk)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("history:rename", args=[convo.pk]), {"title": "<img src=x onerror=1>"})
    assert tab.received and all("<img" not in h for h in tab.received)


def test_rename_rejects_empty_and_long_titles_and_keeps_the_old(client, user):
    convo = conversation(user, "Kept")
    client.force_login(user)
    for bad in ("   ", "x" * 201):
        response = client.post(reverse("history:rename", args=[convo.pk]), {"title": bad})
        assert 'id="manage-error"' in response.content.decode()
        assert "title" in response.content.decode().lower()
    convo.refresh_from_db()
    assert convo.title == "Kept"


def test_only_the_owner_manages(client, user, other_user):
    team = team_with(user, other_user)
    shared = conversation(other_user, "Theirs", shared_with=team)
    private = conversation(other_user, "Private")
    client.force_login(user)
    for name in ("history:rename", "history:archive", "history:delete"):
        assert client.post(reverse(name, args=[shared.pk]), {"title": "x"}).status_code == 403
        assert client.post(reverse(name, args=[private.pk]), {"title": "x"}).status_code == 404
    assert Conversation.objects.filter(pk__in=[shared.pk, private.pk]).count() == 2
    assert Conversation.objects.get(pk=shared.pk).title == "Theirs"


def test_archive_leaves_the_sidebar_and_unarchive_brings_it_back(
    client, user, tabs, django_capture_on_commit_callbacks
):
    convo = conversation(user, "Trip")
    exchange(convo, "q", "a")
    other = conversation(user, "Other")
    exchange(other, "q", "a")
    tab = tabs(user, other.pk)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("history:archive", args=[convo.pk]), {"archived": "1"})
    convo.refresh_from_db()
    assert convo.archived_at is not None
    assert f'<li id="conv-{convo.pk}" hx-swap-oob="delete">' in tab.received[-1]
    page = client.get(reverse("conversation", args=[other.pk])).content.decode()
    assert f'id="conv-{convo.pk}"' not in page
    listed = client.get(reverse("history:index"), {"archived": "on"}).content.decode()
    assert "Trip" in listed
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("history:archive", args=[convo.pk]), {"archived": "0"})
    convo.refresh_from_db()
    assert convo.archived_at is None
    assert 'id="conversation-list" hx-swap-oob="afterbegin"' in tab.received[-1]
    assert (
        f'id="conv-{convo.pk}"'
        in client.get(reverse("conversation", args=[other.pk])).content.decode()
    )


def test_delete_removes_messages_and_stored_files(
    client, user, tabs, django_capture_on_commit_callbacks, settings, tmp_path
):
    from chat.models import GeneratedImage

    settings.MEDIA_ROOT = str(tmp_path)
    convo = conversation(user, "Doomed")
    question, answer = exchange(convo, "q", "a")
    watcher = tabs(user, convo.pk)
    image = GeneratedImage(message=answer, conversation=convo, mime="image/png", size=4)
    image.file.save("made.png", ContentFile(b"\x89PNG"), save=True)
    name = image.file.name
    assert default_storage.exists(name)
    assert manage.stored_files(convo) == [(image.file.storage, name)]
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("history:delete", args=[convo.pk]))
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("home")
    assert not Conversation.objects.filter(pk=convo.pk).exists()
    assert not Message.objects.filter(pk__in=[question.pk, answer.pk]).exists()
    assert not GeneratedImage.objects.filter(pk=image.pk).exists()
    assert not default_storage.exists(name)
    assert any('id="deleted-note"' in h for h in watcher.received)


def test_a_live_answer_cannot_be_deleted(client, user):
    convo = conversation(user)
    _, answer = exchange(convo, "q", "partial", status="streaming")
    client.force_login(user)
    response = client.post(reverse("history:delete", args=[convo.pk]))
    assert "stop it first" in response.content.decode()
    assert Message.objects.filter(pk=answer.pk).exists()


def test_events_cross_processes_through_the_bridge():
    """Another process's event is shown here; our own echo is not shown twice."""
    turns = registry()
    tab = Tab(999_001)
    turns.watchers[5].add(tab)
    turns.user_watchers[999_001].add(tab)
    try:
        event = wire.ConversationEvent(
            conversation=5, origin="proc.other", users=[999_001], watcher_html="<h1 id='a'></h1>",
            user_html="<span id='b'></span>",
        )  # fmt: skip
        turns.on_bridge_message(event)
        assert tab.received == ["<h1 id='a'></h1>", "<span id='b'></span>"]
    finally:
        turns.watchers[5].discard(tab)
        turns.user_watchers[999_001].discard(tab)


def test_the_owner_and_the_others_each_get_only_the_sidebar_ids_they_have():
    """conv-N for the owner, shared-N for the team: no oob element without a target."""
    turns = registry()
    owner, member = Tab(999_011), Tab(999_012)
    turns.user_watchers[999_011].add(owner)
    turns.user_watchers[999_012].add(member)
    try:
        event = wire.ConversationEvent(
            conversation=7, origin="proc.other", users=[999_011, 999_012], watcher_html="",
            owner=999_011, owner_html="<span id='conv-7-name'></span>",
            user_html="<span id='shared-7-name'></span>",
        )  # fmt: skip
        turns.on_bridge_message(event)
        assert owner.received == ["<span id='conv-7-name'></span>"]
        assert member.received == ["<span id='shared-7-name'></span>"]
    finally:
        turns.user_watchers[999_011].discard(owner)
        turns.user_watchers[999_012].discard(member)


def test_delete_keeps_the_usage_ledger(client, user):
    from chat.models import UsageRecord

    convo = conversation(user, "Costly")
    _, answer = exchange(convo, "q", "a")
    record = UsageRecord.objects.create(
        message=answer, conversation=convo, user=user, model="m", response_id="resp_keep",
        status="completed", input_tokens=120, output_tokens=30, total_tokens=150,
    )  # fmt: skip
    client.force_login(user)
    assert client.post(reverse("history:delete", args=[convo.pk])).status_code == 204
    record.refresh_from_db()
    assert record.conversation_id is None and record.message_id is None
    assert (record.response_id, record.input_tokens, record.output_tokens) == ("resp_keep", 120, 30)
    assert record.user_id == user.pk


def test_team_members_tabs_learn_a_rename_but_strangers_do_not(
    client, user, other_user, django_user_model, tabs, django_capture_on_commit_callbacks
):
    stranger = django_user_model.objects.create_user("carol")
    team = team_with(user, other_user)
    convo = conversation(user, "Team plan", shared_with=team)
    member_tab = tabs(other_user, conversation(other_user).pk)  # on another page of theirs
    stranger_tab = tabs(stranger, conversation(stranger).pk)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("history:rename", args=[convo.pk]), {"title": "Team plan v2"})
    assert any(f'id="shared-{convo.pk}-name">Team plan v2<' in h for h in member_tab.received)
    assert stranger_tab.received == []
