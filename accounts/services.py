"""Writes for accounts: redeeming invites and logging staff reviews. Each owns its transaction."""

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.models import Invite, Membership, ReviewLog


class InviteUnusable(Exception):
    """The invite cannot be used; the message says why in words a person understands."""


def check_invite(invite: Invite) -> None:
    if invite.is_used:
        raise InviteUnusable("This invite link has already been used.")
    if invite.is_expired:
        raise InviteUnusable("This invite link has expired.")


@transaction.atomic
def sign_up(*, token: str, username: str, password: str) -> Any:
    """Create the account the invite allows, join its team, and use the invite up."""
    invite = _locked_invite(token)
    user = get_user_model().objects.create_user(
        username=username, password=password, email=invite.email
    )
    _redeem(invite, user)
    return user


@transaction.atomic
def join_team(*, token: str, user: Any) -> Invite:
    """An existing account uses a team invite: it joins the team (an existing role is kept)."""
    invite = _locked_invite(token)
    if invite.team_id is None:
        raise InviteUnusable("This invite link is for a new account, and you already have one.")
    _redeem(invite, user)
    return invite


def _locked_invite(token: str) -> Invite:
    # The row lock makes two simultaneous sign-ups with one link a single use.
    invite = Invite.objects.select_for_update().filter(token=token).first()
    if invite is None:
        raise InviteUnusable("This invite link is not valid.")
    check_invite(invite)
    return invite


def _redeem(invite: Invite, user: Any) -> None:
    if invite.team_id is not None:
        Membership.objects.get_or_create(
            team_id=invite.team_id, user=user, defaults={"role": invite.role}
        )
    invite.used_by = user
    invite.used_at = timezone.now()
    invite.save(update_fields=["used_by", "used_at"])


def log_review(*, reviewer: Any, conversation: Any, via: str) -> ReviewLog:
    return ReviewLog.objects.create(
        reviewer=reviewer,
        reviewer_name=reviewer.get_username(),
        conversation=conversation,
        conversation_label=f"#{conversation.pk} {conversation} (owner {conversation.owner})"[:300],
        via=via,
    )
