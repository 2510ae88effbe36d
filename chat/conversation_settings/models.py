"""Named settings presets: a person keeps them, or shares one with a team; a person's
default preset is where their new conversations start."""

from django.conf import settings
from django.db import models


class SettingsPreset(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="settings_presets"
    )
    # Shared read-only with one of the owner's teams: its members may apply it.
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="settings_presets",
    )  # fmt: skip
    name = models.CharField(max_length=100)
    settings = models.JSONField(default=dict)  # as ChatSettings.to_dict() (effective.py)
    is_default = models.BooleanField(default=False)  # the owner's new conversations start here
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "chat"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="preset_name_per_owner"),
            models.UniqueConstraint(
                fields=["owner"], condition=models.Q(is_default=True), name="one_default_preset"
            ),
        ]

    def __str__(self) -> str:
        return self.name
