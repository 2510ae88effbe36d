"""The History page's search and filter form."""

from django import forms

from chat.history.listing import Filters
from chat.models import Message


class HistoryForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    model = forms.CharField(required=False, max_length=200, label="Model")
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Message.Status.choices], label="Status"
    )
    shared = forms.BooleanField(required=False, label="Shared with me")
    archived = forms.BooleanField(required=False, label="Archived")
    cursor = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def filters(self) -> Filters:
        data = self.cleaned_data
        return Filters(
            since=data.get("since"),
            until=data.get("until"),
            model=data.get("model") or "",
            status=data.get("status") or "",
            shared=bool(data.get("shared")),
            archived=bool(data.get("archived")),
        )
