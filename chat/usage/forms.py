"""The report's query: a date range (this month by default), a grouping and the chart's metric."""

from datetime import timedelta

from django import forms

from chat.usage.reports import GROUPS, this_month

MAX_DAYS = 3660


class ReportForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(choices=[(g, g) for g in GROUPS], required=False)
    metric = forms.ChoiceField(choices=[("cost", "cost"), ("tokens", "tokens")], required=False)

    def __init__(self, data=None, *, groups=GROUPS, default_group="user"):
        super().__init__(data)
        self.fields["group_by"].choices = [(g, g) for g in groups]
        self.default_group = default_group

    def clean(self):
        data = super().clean()
        first, last = this_month()
        data["since"] = data.get("since") or first
        data["until"] = data.get("until") or (last if data["since"] <= last else data["since"])
        data["group_by"] = data.get("group_by") or self.default_group
        data["metric"] = data.get("metric") or "cost"
        if data["until"] < data["since"]:
            raise forms.ValidationError("The end date is before the start date.")
        if data["until"] - data["since"] > timedelta(days=MAX_DAYS):
            raise forms.ValidationError(f"Choose a range of at most {MAX_DAYS} days.")
        return data


def chart_group(since, until) -> str:
    """The period the chart shows for a range: days up to two months, then weeks, then months."""
    days = (until - since).days
    return "day" if days <= 62 else "week" if days <= 366 else "month"
