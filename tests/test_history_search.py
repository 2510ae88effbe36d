"""Search over titles and messages (runs on SQLite's FTS5, and on PostgreSQL with DATABASE_URL)."""

import pytest
from django.db import connection

from chat.history import search
from chat.history.listing import Filters
from chat.models import Conversation, Message
from tests.history_factories import conversation, exchange, team_with

pytestmark = pytest.mark.django_db


def message_ids(page) -> list[int]:
    return [hit.message_id for hit in page.rows]


def test_finds_message_text_with_highlighted_snippet(user):
    convo = conversation(user, "Cooking")
    _, answer = exchange(convo, "How long do I boil eggs?", "Boil the eggs for nine minutes.")
    page = search.search_messages(user, "eggs", Filters())
    assert answer.pk in message_ids(page)
    hit = next(h for h in page.rows if h.message_id == answer.pk)
    assert "<mark>" in hit.snippet and "eggs</mark>" in hit.snippet.lower()
    assert hit.conversation_id == convo.pk and hit.anchor == f"#m{answer.pk}"


def test_stemming_or_prefix_finds_word_forms(user):
    convo = conversation(user)
    _, answer = exchange(convo, "q", "The migrations were applied yesterday.")
    assert answer.pk in message_ids(search.search_messages(user, "migration", Filters()))


def test_ranking_puts_the_denser_match_first(user):
    convo = conversation(user)
    _, weak = exchange(convo, "q1", "A long answer about many things, once mentioning kubernetes.")
    _, strong = exchange(convo, "q2", "kubernetes kubernetes: kubernetes pods and kubernetes nodes")
    page = search.search_messages(user, "kubernetes", Filters())
    ids = message_ids(page)
    assert ids.index(strong.pk) < ids.index(weak.pk)
    scores = [h.score for h in page.rows]
    assert scores == sorted(scores, reverse=True)


def test_never_finds_another_persons_private_text(user, other_user):
    mine = conversation(user)
    exchange(mine, "q", "my zebra notes")
    theirs = conversation(other_user, "zebra secrets")
    _, private = exchange(theirs, "zebra?", "their private zebra text")
    hits = search.search_messages(user, "zebra", Filters())
    assert private.pk not in message_ids(hits)
    assert all(
        Conversation.objects.get(pk=h.conversation_id).owner_id == user.pk for h in hits.rows
    )
    assert [h.conversation_id for h in search.search_titles(user, "zebra", Filters())] == []


def test_staff_search_is_their_own_history_only(user, other_user):
    user.is_staff = True
    user.save()
    theirs = conversation(other_user)
    exchange(theirs, "q", "walrus facts")
    assert search.search_messages(user, "walrus", Filters()).rows == []


def test_finds_text_shared_with_my_team_and_filters_to_it(user, other_user):
    team = team_with(user, other_user)
    shared = conversation(other_user, "Shared plan", shared_with=team)
    _, theirs = exchange(shared, "q", "the otter migration plan")
    mine = conversation(user)
    _, own = exchange(mine, "q", "my otter photos")
    assert {theirs.pk, own.pk} <= set(message_ids(search.search_messages(user, "otter", Filters())))
    only_shared = search.search_messages(user, "otter", Filters(shared=True))
    assert message_ids(only_shared) == [theirs.pk]


def test_filters_by_model_status_and_date(user):
    convo = conversation(user)
    _, old = exchange(convo, "q", "heron answer old", model="m-old", days_ago=40)
    _, failed = exchange(convo, "q", "heron answer failed", model="m-new", status="failed")
    _, done = exchange(convo, "q", "heron answer done", model="m-new")
    by_model = message_ids(search.search_messages(user, "heron", Filters(model="m-new")))
    assert set(by_model) == {failed.pk, done.pk}
    by_status = message_ids(search.search_messages(user, "heron", Filters(status="failed")))
    assert by_status == [failed.pk]
    recent = Filters(since=(old.created_at.date().replace(day=1)).replace(year=2000))
    assert old.pk in message_ids(search.search_messages(user, "heron", recent))
    last_month = Filters(until=done.created_at.date().fromordinal(done.created_at.toordinal() - 30))
    assert message_ids(search.search_messages(user, "heron", last_month)) == [old.pk]


def test_archived_conversations_stay_searchable(user):
    from django.utils import timezone

    convo = conversation(user, "Old trip", archived_at=timezone.now())
    _, answer = exchange(convo, "q", "the lighthouse at dawn")
    assert message_ids(search.search_messages(user, "lighthouse", Filters())) == [answer.pk]


def test_title_search(user):
    convo = conversation(user, "Quarterly budget review")
    hits = search.search_titles(user, "budget", Filters())
    assert [h.conversation_id for h in hits] == [convo.pk]
    assert "<mark>" in hits[0].snippet and hits[0].message_id is None


def test_renamed_title_is_found_and_the_old_one_is_not(user):
    convo = conversation(user, "Alpha plans")
    Conversation.objects.filter(pk=convo.pk).update(title="Bravo plans")
    assert [h.conversation_id for h in search.search_titles(user, "bravo", Filters())] == [convo.pk]
    assert search.search_titles(user, "alpha", Filters()) == []


def test_keyset_pages_cover_every_hit_once(user):
    convo = conversation(user)
    answers = [exchange(convo, "q", f"pelican {'pelican ' * (i % 5)}{i}")[1] for i in range(45)]
    seen: list[int] = []
    cursor = ""
    for _ in range(10):
        page = search.search_messages(user, "pelican", Filters(), cursor)
        seen += message_ids(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(a.pk for a in answers)
    assert len(seen) == len(set(seen))


def test_hostile_query_and_text_are_escaped(user):
    convo = conversation(user)
    _, answer = exchange(
        convo, "q", 'say <script>alert(1)</script> "quoted" <img src=x> NEAR( OR * ok'
    )
    page = search.search_messages(user, 'quoted" OR NEAR(*', Filters())
    assert message_ids(page) == [answer.pk]
    html = str(page.rows[0].snippet)
    assert "<mark>quoted</mark>" in html
    assert "<" not in html.replace("<mark>", "").replace("</mark>", "")
    assert search.search_messages(user, "  ***  ", Filters()).rows == []
    assert message_ids(search.search_messages(user, "quoted", Filters(), cursor="%%%bad")) == [
        answer.pk
    ]


def test_index_follows_updates_and_deletes(user):
    convo = conversation(user)
    _, answer = exchange(convo, "q", "before text")
    Message.objects.filter(pk=answer.pk).update(text="after walrus text")
    assert message_ids(search.search_messages(user, "walrus", Filters())) == [answer.pk]
    assert search.search_messages(user, "before", Filters()).rows == []
    convo.delete()
    assert search.search_messages(user, "walrus", Filters()).rows == []


def test_uses_the_databases_own_full_text_index():
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE name LIKE 'chat_%_fts%'")
            names = {r[0] for r in cursor.fetchall()}
            assert {"chat_message_fts", "chat_message_fts_au", "chat_conversation_fts"} <= names
        else:
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'message_search_vector'"
            )
            assert "gin" in cursor.fetchone()[0].lower()


def test_a_lost_trigger_is_put_back_after_migrate_and_the_index_caught_up(user):
    """Django rebuilds a SQLite table to alter it, which drops its triggers: post_migrate
    recreates them and reindexes what was written meanwhile."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's FTS5 triggers")
    from chat.history import fts

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER chat_message_fts_ai")
    convo = conversation(user)
    _, unseen = exchange(convo, "q", "written while the trigger was gone: axolotl")
    assert search.search_messages(user, "axolotl", Filters()).rows == []
    fts.after_migrate(sender=None, using="default")
    assert message_ids(search.search_messages(user, "axolotl", Filters())) == [unseen.pk]
    _, later = exchange(convo, "q", "after: axolotl again")
    assert set(message_ids(search.search_messages(user, "axolotl", Filters()))) == {
        unseen.pk,
        later.pk,
    }


def test_an_answer_is_found_once_it_has_ended_not_while_it_streams(user):
    """Its text changes at every checkpoint: indexed once, when it ends (chat/history/fts.py)."""
    convo = conversation(user)
    _, answer = exchange(convo, "q", "the first words about a narwhal", status="streaming")
    assert search.search_messages(user, "narwhal", Filters()).rows == []
    Message.objects.filter(pk=answer.pk).update(text="the first words about a narwhal, and more")
    assert search.search_messages(user, "narwhal", Filters()).rows == []
    Message.objects.filter(pk=answer.pk).update(
        text="the first words about a narwhal, and more: a tusk", status="completed"
    )
    assert message_ids(search.search_messages(user, "narwhal", Filters())) == [answer.pk]
    assert message_ids(search.search_messages(user, "tusk", Filters())) == [answer.pk]
    # An ended answer's later change replaces what was indexed, and its deletion removes it.
    Message.objects.filter(pk=answer.pk).update(text="now about a dolphin")
    assert search.search_messages(user, "narwhal", Filters()).rows == []
    assert message_ids(search.search_messages(user, "dolphin", Filters())) == [answer.pk]
    Message.objects.filter(pk=answer.pk).delete()
    assert search.search_messages(user, "dolphin", Filters()).rows == []


def test_every_ended_status_is_searchable_and_no_live_one(user):
    convo = conversation(user)
    found = {}
    for status in [s for s, _ in Message.Status.choices]:
        _, answer = exchange(convo, "q", f"okapi {status}", status=status)
        found[status] = bool(search.search_messages(user, f"okapi {status}", Filters()).rows)
    assert found == {s: s not in Message.LIVE_STATUSES for s, _ in Message.Status.choices}


def test_triggers_of_the_older_kind_are_replaced_and_the_index_holds_ended_messages_only(user):
    """A database migrated before issue 12 indexed every message at every write; the
    post_migrate check puts the new triggers in and indexes again what counts."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's FTS5 triggers")
    from chat.history import fts

    convo = conversation(user)
    with connection.cursor() as cursor:
        for suffix in ("ai", "ad", "au"):
            cursor.execute(f"DROP TRIGGER chat_message_fts_{suffix}")
        # The old, unconditional triggers, as 0008_history made them.
        cursor.execute(
            "CREATE TRIGGER chat_message_fts_ai AFTER INSERT ON chat_message BEGIN "
            "INSERT INTO chat_message_fts(rowid, text) VALUES (new.id, new.text); END"
        )
    _, live = exchange(convo, "q", "still streaming: quokka", status="streaming")
    _, done = exchange(convo, "q", "done: quokka", status="completed")
    fts.after_migrate(sender=None, using="default")
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'chat_message_fts_au'")
        assert "status" in cursor.fetchone()[0]
        cursor.execute("SELECT rowid FROM chat_message_fts WHERE chat_message_fts MATCH 'quokka'")
        assert {row[0] for row in cursor.fetchall()} == {done.pk}
    Message.objects.filter(pk=live.pk).update(status="completed")
    assert set(message_ids(search.search_messages(user, "quokka", Filters()))) == {
        live.pk,
        done.pk,
    }


def test_a_live_answers_stored_vector_is_empty_on_postgresql(user):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's generated column")
    convo = conversation(user)
    _, answer = exchange(convo, "q", "a streaming wombat", status="streaming")

    def vector():
        with connection.cursor() as cursor:
            cursor.execute("SELECT search_vector FROM chat_message WHERE id = %s", [answer.pk])
            return cursor.fetchone()[0]

    assert vector() is None
    Message.objects.filter(pk=answer.pk).update(status="completed")
    assert "wombat" in vector()
