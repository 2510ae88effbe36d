"""The share form on the conversation page: private, or read-only with one of the owner's teams."""

from typing import Any

from django import forms

from chat import permissions


class ShareForm(forms.Form):
    team = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Private", label="Share with"
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = permissions.teams_of(user)
