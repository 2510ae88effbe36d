"""The conversation header's settings panel: save the settings (they apply to the next
turn), keep them as a named preset, or apply a preset. htmx swaps the panel in place."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from chat import permissions
from chat.conversation_settings import effective, presets
from chat.conversation_settings.forms import PresetForm, SettingsForm, initial
from chat.models import Conversation


def panel_context(user: Any, conversation: Conversation, **extra: Any) -> dict[str, Any]:
    """What the panel shows: the conversation's settings, the person's presets."""
    chosen = effective.of(conversation.settings)
    return {
        "conversation": conversation,
        "settings_form": extra.pop("settings_form", None) or SettingsForm(initial=initial(chosen)),
        "preset_form": extra.pop("preset_form", None) or PresetForm(user=user),
        "presets": list(presets.usable(user)),
        "chosen": chosen,
        **extra,
    }


@login_required
@require_POST
def conversation_settings(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation, pk=conversation_id)
    if not permissions.can_write(request.user, conversation):
        if permissions.can_view(request.user, conversation):
            return HttpResponseForbidden("Only the owner can change this conversation's settings.")
        raise Http404("No such conversation.")
    action = request.POST.get("action", "save")
    extra = {"save": _save, "keep": _keep, "apply": _apply}.get(action, _save)(
        request, conversation
    )
    if not request.headers.get("HX-Request"):
        return redirect("conversation", conversation.pk)
    context = panel_context(request.user, conversation, **extra)
    return HttpResponse(render_to_string("chat/items/settings_panel.html", context, request))


def _save(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    form = SettingsForm(request.POST)
    chosen = form.chosen()
    if chosen is None:
        return {"settings_form": form, "settings_note": ""}
    _store(conversation, chosen)
    return {"settings_note": "Saved: the next answer uses these settings."}


def _keep(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    """The conversation's current settings, kept as a named preset."""
    form = PresetForm(request.POST, user=request.user)
    if not form.is_valid():
        return {"preset_form": form}
    data = form.cleaned_data
    presets.save(
        user=request.user, name=data["name"], chosen=effective.of(conversation.settings),
        team=data["team"], default=data["default"],
    )  # fmt: skip
    return {"preset_note": f"Kept as preset “{data['name']}”."}


def _apply(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    preset = presets.usable(request.user).filter(pk=_int(request.POST.get("preset"))).first()
    if preset is None:
        return {"preset_note": "That preset was not found."}
    _store(conversation, effective.of(preset.settings))
    return {"settings_note": f"Preset “{preset.name}” applied: the next answer uses it."}


def _store(conversation: Conversation, chosen: effective.ChatSettings) -> None:
    conversation.settings = chosen.to_dict()
    Conversation.objects.filter(pk=conversation.pk).update(settings=conversation.settings)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
