"""Small factories for the history tests: conversations with a question and an answer."""

from datetime import timedelta

from django.utils import timezone

from accounts.models import Membership, Team
from chat.models import Conversation, Message


def conversation(owner, title: str = "", *, days_ago: float = 0, **fields) -> Conversation:
    convo = Conversation.objects.create(owner=owner, title=title, **fields)
    if days_ago:
        moment = timezone.now() - timedelta(days=days_ago)
        Conversation.objects.filter(pk=convo.pk).update(updated_at=moment, created_at=moment)
        convo.refresh_from_db()
    return convo


def exchange(
    convo: Conversation,
    question: str,
    answer: str,
    *,
    model: str = "gpt-test",
    status: str = "completed",
    days_ago: float = 0,
) -> tuple[Message, Message]:
    asked = Message.objects.create(conversation=convo, role="user", text=question)
    answered = Message.objects.create(
        conversation=convo, role="assistant", text=answer, model=model, status=status
    )
    if days_ago:
        moment = timezone.now() - timedelta(days=days_ago)
        Message.objects.filter(pk__in=[asked.pk, answered.pk]).update(created_at=moment)
    return asked, answered


def team_with(*users, name: str = "team") -> Team:
    team = Team.objects.create(name=name)
    for user in users:
        Membership.objects.create(team=team, user=user)
    return team
