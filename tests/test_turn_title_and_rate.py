"""A new conversation's title (chat/turns/start.py): the first message on one line, cut at 60
characters with an ellipsis; and the per-person limit on turns a minute (chat/turns/plan.py),
counted in the cache per clock minute, even when the cache lost the counter meanwhile."""

import time

import pytest
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

from chat.models import Conversation, Message
from chat.turns import plan as plan_module
from chat.turns.plan import TurnPlan, TurnRejected, plan_turn
from chat.turns.start import start_turn

pytestmark = pytest.mark.django_db


def started_title(user, text: str, conversation_id=None) -> str:
    plan = TurnPlan(user.pk, conversation_id, text, "m", [])
    started = start_turn(plan=plan, lease_owner="me")
    return Conversation.objects.get(pk=started.conversation_id).title


@pytest.mark.parametrize("existing", [False, True])
def test_the_title_is_the_message_on_one_line_cut_at_sixty_characters(user, existing):
    def title(text):
        if not existing:
            return started_title(user, text)
        conversation = Conversation.objects.create(owner=user)  # untitled: the claim titles it
        return started_title(user, text, conversation.pk)

    assert title("  What is\n\tthe  time? ") == "What is the time?"
    assert title("a" * 60) == "a" * 60  # exactly the limit: kept whole
    assert title("b" * 61) == "b" * 57 + "…"  # one over: 57 characters and an ellipsis
    assert title("c" * 56 + " " + "d" * 10) == "c" * 56 + "…"  # no space before the ellipsis


def test_the_claim_titles_only_an_untitled_conversation_and_moves_its_branch(user):
    conversation = Conversation.objects.create(owner=user, title="Kept")
    question = Message.objects.create(conversation=conversation, role="user", text="q")
    answer = Message.objects.create(conversation=conversation, role="assistant", text="a")
    before = Conversation.objects.get(pk=conversation.pk).updated_at
    plan = TurnPlan(user.pk, conversation.pk, "A new title?", "m", [], parent_id=answer.pk)
    started = start_turn(plan=plan, lease_owner="me")
    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.title == "Kept"
    assert stored.current_leaf_id == answer.pk  # the message above the new question
    assert stored.updated_at > before
    asked = Message.objects.get(pk=started.user_message_id)
    assert (asked.parent_id, asked.text) == (answer.pk, "A new title?")
    # A regenerate asks the same question again: no new question row, the answer below it.
    Message.objects.filter(pk=started.assistant_message_id).update(status="completed")
    again = TurnPlan(
        user.pk, conversation.pk, "q", "m", [], parent_id=None, question_id=question.pk
    )
    regenerated = start_turn(plan=again, lease_owner="me")
    assert regenerated.user_message_id == question.pk
    assert Message.objects.get(pk=regenerated.assistant_message_id).parent_id == question.pk
    assert Conversation.objects.get(pk=conversation.pk).current_leaf_id == question.pk
    assert Message.objects.filter(role="user").count() == 2
    # The claim sees the live answer (a plan made before it was written) and says so.
    with pytest.raises(TurnRejected) as refused:
        start_turn(plan=TurnPlan(user.pk, conversation.pk, "more", "m", []), lease_owner="x")
    assert str(refused.value) == "A reply is still being written in this conversation."


class _Clock:
    """time.time for the rate limit's minute (the cache keeps its own, real clock)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, settings):
    cache.clear()
    settings.CHAT_TURNS_PER_MINUTE = 2
    fake = _Clock(119.5)  # half a second before minute 2 begins (and minute 2 of 59 or 61 s)
    monkeypatch.setattr(plan_module, "time", fake)
    yield fake
    cache.clear()


def ask(user):
    return plan_turn(user=user, conversation_id=None, text="hi", model="m")


def test_the_limit_counts_turns_in_each_clock_minute(user, clock):
    ask(user)
    ask(user)
    with pytest.raises(TurnRejected) as refused:
        ask(user)
    assert str(refused.value) == "You have sent 2 messages this minute; please wait a moment."
    clock.now = 120.0  # the next minute: counted afresh
    ask(user)
    ask(user)
    with pytest.raises(TurnRejected):
        ask(user)
    assert cache.get(f"turn-rate:{user.pk}:2") == 3  # the refused one is counted too


def test_the_counter_outlives_its_minute_by_a_minute_at_most(user, clock):
    """Kept 120 s: long enough for its whole minute, then dropped (Redis keeps no stale keys).
    LocMemCache's expiry table is the only place the timeout can be read back."""
    ask(user)
    key = cache.make_and_validate_key(f"turn-rate:{user.pk}:1")
    left = cache._expire_info[key] - time.time()
    assert 115 < left <= 120


def test_no_limit_when_it_is_zero(user, clock, settings):
    settings.CHAT_TURNS_PER_MINUTE = 0
    for _ in range(4):
        ask(user)
    assert cache.get(f"turn-rate:{user.pk}:1") is None  # nothing counted


class ForgetfulCache(LocMemCache):
    """A cache that loses the first counter right after adding it (an eviction between the
    add and the increment): the turn counts as the first of its minute."""

    forgot = False

    def add(self, key, value, timeout=None, version=None):
        if not ForgetfulCache.forgot:
            ForgetfulCache.forgot = True
            return True
        return super().add(key, value, timeout, version)


def test_a_counter_lost_between_add_and_increment_starts_again_at_one(user, clock, settings):
    ForgetfulCache.forgot = False
    settings.CACHES = {
        "default": {"BACKEND": "tests.test_turn_title_and_rate.ForgetfulCache", "LOCATION": "x"}
    }
    ask(user)
    assert ForgetfulCache.forgot
    assert cache.get(f"turn-rate:{user.pk}:1") == 1
    key = cache.make_and_validate_key(f"turn-rate:{user.pk}:1")
    assert 115 < cache._expire_info[key] - time.time() <= 120
    ask(user)  # the second of the minute: still allowed
    with pytest.raises(TurnRejected):
        ask(user)
