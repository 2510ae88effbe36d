"""Named presets: saved by a person, shared with one of their teams, one of them their
default (where new conversations start)."""

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from chat import permissions
from chat.conversation_settings.effective import ChatSettings, of
from chat.conversation_settings.models import SettingsPreset


def usable(user: Any) -> QuerySet[SettingsPreset]:
    """The person's own presets and those shared with a team they belong to."""
    teams = permissions.teams_of(user)
    return (
        SettingsPreset.objects.filter(Q(owner=user) | Q(team__in=teams))
        .select_related("owner", "team")
        .distinct()
    )


def starting_settings(user: Any) -> dict[str, Any]:
    """A new conversation's settings: the person's default preset, else the deployment's."""
    preset = SettingsPreset.objects.filter(owner=user, is_default=True).first()
    return of(preset.settings).to_dict() if preset else {}


@transaction.atomic
def save(
    *, user: Any, name: str, chosen: ChatSettings, team: Any = None, default: bool = False
) -> SettingsPreset:
    """Keep `chosen` under `name` (replacing the person's preset of that name)."""
    if team is not None and not permissions.teams_of(user).filter(pk=team.pk).exists():
        raise ValueError("You can only share a preset with a team you belong to.")
    if default:
        SettingsPreset.objects.filter(owner=user, is_default=True).update(is_default=False)
    preset, _ = SettingsPreset.objects.update_or_create(
        owner=user, name=name,
        defaults={"settings": chosen.to_dict(), "team": team, "is_default": default},
    )  # fmt: skip
    return preset
