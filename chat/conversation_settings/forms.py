"""The settings form in the conversation header, and the preset form beside it."""

from typing import Any

from django import forms

from chat import permissions
from chat.conversation_settings import catalog, effective
from chat.tools.registry import enabled_tools


class SettingsForm(forms.Form):
    model = forms.ChoiceField(label="Model")
    instructions = forms.CharField(
        label="Instructions", required=False, max_length=effective.MAX_INSTRUCTIONS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip
    reasoning_effort = forms.ChoiceField(
        label="Reasoning effort", required=False,
        choices=[("", "Model default"), *((e, e) for e in effective.EFFORTS)],
    )  # fmt: skip
    temperature = forms.CharField(label="Temperature", required=False, max_length=20)
    max_output_tokens = forms.CharField(label="Max output tokens", required=False, max_length=20)
    tools = forms.MultipleChoiceField(
        label="Tools", required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(m.name, _label(m)) for m in catalog.catalog().values()]
        self.fields["tools"].choices = [(name, name) for name in enabled_tools()]
        if not enabled_tools():
            del self.fields["tools"]

    def chosen(self) -> effective.ChatSettings | None:
        """The settings, checked against the model; errors land on their fields."""
        if not self.is_valid():
            return None
        data = dict(self.cleaned_data)
        offered = list(enabled_tools())
        on = set(data.pop("tools", offered))
        data["tools_off"] = [n for n in offered if n not in on]
        chosen, errors = effective.check(data)
        for name, message in errors.items():
            self.add_error(name if name in self.fields else None, message)
        return chosen


def initial(chosen: effective.ChatSettings) -> dict[str, Any]:
    data = chosen.to_dict()
    data["temperature"] = "" if chosen.temperature is None else chosen.temperature
    data["tools"] = [n for n in enabled_tools() if n not in chosen.tools_off]
    return data


class PresetForm(forms.Form):
    name = forms.CharField(label="Preset name", max_length=100)
    team = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Only me", label="Share with"
    )
    default = forms.BooleanField(label="Start my new conversations with it", required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = permissions.teams_of(user)


def _label(info: catalog.ModelInfo) -> str:
    what = [f for f in ("reasoning", "tools") if getattr(info, f)]
    return f"{info.name} ({info.context_window:,} tokens{', ' if what else ''}{', '.join(what)})"
