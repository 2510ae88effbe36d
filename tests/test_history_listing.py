"""The History list: keyset pages over thousands of rows, filters, archived ones."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chat.history import listing
from chat.history.listing import Filters
from chat.models import Conversation
from tests.history_factories import conversation, exchange, team_with

pytestmark = pytest.mark.django_db


def seed(owner, count: int) -> list[int]:
    now = timezone.now()
    rows = [Conversation(owner=owner, title=f"c{i}") for i in range(count)]
    Conversation.objects.bulk_create(rows, batch_size=1000)
    # Many rows share an updated_at: the keyset must still be exact (ties broken by id).
    objs = list(Conversation.objects.filter(owner=owner).order_by("id"))
    for index, convo in enumerate(objs):
        convo.updated_at = now - timezone.timedelta(seconds=index // 7)
    Conversation.objects.bulk_update(objs, ["updated_at"], batch_size=1000)
    return [c.pk for c in objs]


def test_keyset_pages_walk_thousands_of_rows_exactly(user, other_user):
    ids = seed(user, 3000)
    seed(other_user, 50)
    seen: list[int] = []
    cursor = ""
    pages = 0
    while True:
        with CaptureQueriesContext(connection) as queries:
            page = listing.page(user, Filters(), cursor, size=200)
        assert len(queries) == 1  # one query a page, whatever the depth
        assert "OFFSET" not in queries[0]["sql"].upper()
        seen += [row.id for row in page.rows]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 15
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    stored = list(
        Conversation.objects.filter(owner=user)
        .order_by("-updated_at", "-id")
        .values_list("id", flat=True)
    )
    assert seen == stored


def test_filters_by_model_status_date_and_shared(user, other_user):
    a = conversation(user, "A")
    exchange(a, "q", "x", model="m1")
    b = conversation(user, "B", days_ago=40)
    exchange(b, "q", "x", model="m2", status="failed")
    team = team_with(user, other_user)
    shared = conversation(other_user, "S", shared_with=team)
    ids = lambda f: [r.id for r in listing.page(user, f).rows]  # noqa: E731
    assert ids(Filters(model="m1")) == [a.pk]
    assert ids(Filters(status="failed")) == [b.pk]
    assert ids(Filters(until=(timezone.now() - timezone.timedelta(days=30)).date())) == [b.pk]
    assert ids(Filters(since=(timezone.now() - timezone.timedelta(days=1)).date())) == [a.pk]
    assert ids(Filters(shared=True)) == [shared.pk]
    assert set(ids(Filters())) == {a.pk, b.pk}


def test_history_page_lists_and_searches(client, user):
    convo = conversation(user, "Garden plans")
    _, answer = exchange(convo, "Which tomatoes?", "Plant cherry tomatoes in May.")
    client.force_login(user)
    page = client.get(reverse("history:index")).content.decode()
    assert "Garden plans" in page
    found = client.get(reverse("history:index"), {"q": "tomatoes"}).content.decode()
    assert f"/c/{convo.pk}/?at={answer.pk}#m{answer.pk}" in found and "<mark>" in found
    bad = client.get(reverse("history:index"), {"since": "2026-02-01", "until": "2026-01-01"})
    assert "start date is after the end date" in bad.content.decode()


def test_more_button_brings_the_next_page(client, user):
    seed(user, 120)
    client.force_login(user)
    first = client.get(reverse("history:index"))
    more_url = first.context["more_url"]
    assert more_url and first.content.decode().count('class="hit"') == 50
    more = client.get(more_url, headers={"HX-Request": "true"}).content.decode()
    assert "<main" not in more and more.count('class="hit"') == 50 and 'id="more"' in more
