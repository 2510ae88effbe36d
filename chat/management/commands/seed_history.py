"""Seed N conversations for one person and print how long the History list and search take.

    python manage.py seed_history --conversations 20000
    DATABASE_URL=postgres://... python manage.py seed_history --conversations 20000

Each conversation gets a question and an answer of generated words; the timings are the
median of several runs of: the first page of the list, a page deep in it (reached by keyset),
a search for a common word, a rare word and two words, and the title search.
"""

import random
import statistics
import time
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from chat.history import listing, search
from chat.history.listing import Filters
from chat.models import Conversation, Message

WORDS = (
    "river mountain garden kitchen budget travel python django server database window "
    "coffee music history planet ocean forest winter summer market school doctor engine "
    "library camera bridge island letter number energy silver stone paper network signal"
).split()
RARE = "quetzalcoatlus"
BATCH = 1000


class Command(BaseCommand):
    help = "Seed N conversations for one person and print the History list and search times."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--conversations", type=int, default=10_000)
        parser.add_argument("--username", default="history-seed")
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--keep", action="store_true", help="keep the seeded rows")
        parser.add_argument(
            "--time-only",
            action="store_true",
            help="time the person's rows already seeded (--keep)",
        )

    def handle(self, *args, conversations: int, username: str, runs: int, keep: bool, **kw):
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=username)
        if kw.get("time_only"):
            keep = True
            count = Conversation.objects.filter(owner=user).count()
            self.stdout.write(f"{connection.vendor}: {count} conversations already seeded")
        else:
            started = time.perf_counter()
            self._seed(user, conversations)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # what autovacuum would do soon after a bulk load
            self.stdout.write(
                f"{connection.vendor}: seeded {conversations} conversations "
                f"({2 * conversations} messages) in {time.perf_counter() - started:.1f} s"
            )
        try:
            for name, seconds in self._timings(user, runs):
                self.stdout.write(f"  {name:<34} {seconds * 1000:8.1f} ms")
        finally:
            if not keep:
                user.delete()

    def _seed(self, user, count: int) -> None:
        rng = random.Random(42)
        now = timezone.now()
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            with transaction.atomic():
                convos = Conversation.objects.bulk_create(
                    Conversation(owner=user, title=" ".join(rng.sample(WORDS, 3)).capitalize())
                    for _ in range(size)
                )
                messages = []
                for offset, convo in enumerate(convos):
                    index = start + offset
                    answer = " ".join(rng.choices(WORDS, k=60))
                    if index % 1000 == 0:
                        answer += f" {RARE}"
                    messages.append(Message(conversation=convo, role="user", text=_question(rng)))
                    messages.append(
                        Message(conversation=convo, role="assistant", text=answer, model="gpt-seed")
                    )
                Message.objects.bulk_create(messages)
                for offset, convo in enumerate(convos):
                    convo.updated_at = now - timezone.timedelta(minutes=start + offset)
                Conversation.objects.bulk_update(convos, ["updated_at"])

    def _timings(self, user, runs: int) -> list[tuple[str, float]]:
        deep = _cursor_at(user, depth=20)
        cases: list[tuple[str, Callable[[], object]]] = [
            ("list: first page (50)", lambda: listing.page(user, Filters())),
            ("list: page 21 (keyset)", lambda: listing.page(user, Filters(), deep)),
            ("list: filtered by model", lambda: listing.page(user, Filters(model="gpt-seed"))),
            ("search: common word, page 1", lambda: search.search_messages(user, "river", Filters())),
            ("search: two words, page 1", lambda: search.search_messages(user, "coffee bridge", Filters())),
            ("search: rare word", lambda: search.search_messages(user, RARE, Filters())),
            ("search: titles", lambda: search.search_titles(user, "garden", Filters())),
        ]  # fmt: skip
        return [(name, _median(run, runs)) for name, run in cases]


def _question(rng: random.Random) -> str:
    return "Tell me about " + " and ".join(rng.sample(WORDS, 2)) + "?"


def _cursor_at(user, depth: int) -> str:
    cursor = ""
    for _ in range(depth):
        cursor = listing.page(user, Filters(), cursor).next_cursor or ""
    return cursor


def _median(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        page = run()
        rows = page if isinstance(page, list) else page.rows
        list(rows)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
