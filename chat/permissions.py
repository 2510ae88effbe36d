"""Who may see a conversation and who may write in it: the one place these rules live.

- The owner reads and writes. Conversations are private by default.
- Members of the team the owner shared it with read it (while the owner is still a member).
- Staff may read any conversation; when it is not theirs and not shared with them, that is
  a *review*, and every review is logged (`accounts.ReviewLog`).
- Nobody else sees it, and an inactive account sees nothing.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.models import Membership, Team
from accounts.services import log_review
from chat.models import Conversation, Message


@dataclass(frozen=True)
class Access:
    read_only: bool
    review: bool  # staff looking at someone else's conversation: shown and logged
    shared: bool  # seen through a team share


def can_view(user: Any, conversation: Conversation) -> bool:
    if not _active(user):
        return False
    return _owns(user, conversation) or _via_team(user, conversation) or user.is_staff


def can_write(user: Any, conversation: Conversation) -> bool:
    return _active(user) and _owns(user, conversation)


def is_review(user: Any, conversation: Conversation) -> bool:
    return (
        _active(user)
        and user.is_staff
        and not _owns(user, conversation)
        and not _via_team(user, conversation)
    )


def can_share(user: Any, conversation: Conversation, team: Team | None) -> bool:
    """Only the owner shares, and only with a team they belong to (None makes it private)."""
    if not can_write(user, conversation):
        return False
    return team is None or Membership.objects.filter(team=team, user=user).exists()


def open_conversation(user: Any, conversation: Conversation, *, via: str) -> Access | None:
    """The access a page or socket gets, or None; a staff review is logged here."""
    if not _active(user):
        return None
    if _owns(user, conversation):
        return Access(read_only=False, review=False, shared=False)
    if _via_team(user, conversation):
        return Access(read_only=True, review=False, shared=True)
    if user.is_staff:
        log_review(reviewer=user, conversation=conversation, via=via)
        return Access(read_only=True, review=True, shared=False)
    return None


def own_conversations(user: Any) -> QuerySet[Conversation]:
    """The person's own conversations (what their tools may search); none when inactive."""
    if not _active(user):
        return Conversation.objects.none()
    return Conversation.objects.filter(owner=user)


def teams_of(user: Any) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).order_by("name")


def shared_with(user: Any) -> QuerySet[Conversation]:
    """Others' conversations shared with a team the person and the owner both belong to."""
    owner_in_team = Membership.objects.filter(team=OuterRef("shared_with"), user=OuterRef("owner"))
    return (
        Conversation.objects.filter(shared_with__memberships__user=user)
        .exclude(owner=user)
        .filter(Exists(owner_in_team))
        .select_related("owner", "shared_with")
        .distinct()
    )


def findable(user: Any) -> QuerySet[Conversation]:
    """What a person's history and search cover: their own conversations and those shared
    with them. Never another person's private text, not even for staff (they review from the
    admin, one logged conversation at a time)."""
    if not _active(user):
        return Conversation.objects.none()
    shared = shared_with(user).values("pk")
    return Conversation.objects.filter(Q(owner=user) | Q(pk__in=shared))


def findable_messages(user: Any, *, shared_only: bool = False) -> QuerySet[Message]:
    """The messages of `findable(user)` (or of the shared part only), as a condition on the
    message rows: search joins it to its full-text match without building a list of ids."""
    if not _active(user):
        return Message.objects.none()
    shared = Q(conversation_id__in=shared_with(user).values("pk"))
    return Message.objects.filter(shared if shared_only else Q(conversation__owner=user) | shared)


def watchers_of(conversation: Conversation) -> list[int]:
    """Everyone whose open tabs may show this conversation: the owner and, when shared, the
    members of that team."""
    users = {conversation.owner_id}
    if conversation.shared_with_id is not None:
        users.update(
            Membership.objects.filter(team_id=conversation.shared_with_id).values_list(
                "user_id", flat=True
            )
        )
    return sorted(users)


def _active(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def _owns(user: Any, conversation: Conversation) -> bool:
    return conversation.owner_id == user.pk


def _via_team(user: Any, conversation: Conversation) -> bool:
    """Shared with a team both the viewer and the owner are (still) members of."""
    if conversation.shared_with_id is None:
        return False
    members = Membership.objects.filter(
        team_id=conversation.shared_with_id, user_id__in=[user.pk, conversation.owner_id]
    )
    return members.count() == 2
