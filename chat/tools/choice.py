"""A conversation's choice of hosted tools: the owner switches offered ones off or on again."""

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
)
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from chat import permissions
from chat.models import Conversation
from chat.tools import hosted


class ToolsForm(forms.Form):
    tools = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Tools"
    )

    def __init__(self, *args: Any, offered: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tools"].choices = [(name, hosted.LABELS[name]) for name in offered]


def form_for(user: Any, conversation: Conversation) -> ToolsForm | None:
    """The form on the conversation page: for its owner, when the deployment offers tools."""
    offered = hosted.offered()
    if not offered or not permissions.can_write(user, conversation):
        return None
    off = set(conversation.hosted_tools_off or [])
    return ToolsForm(offered=offered, initial={"tools": [n for n in offered if n not in off]})


@login_required
@require_POST
def conversation_tools(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation, pk=conversation_id)
    if not permissions.can_write(request.user, conversation):
        if permissions.can_view(request.user, conversation):
            return HttpResponseForbidden("Only the owner can choose this conversation's tools.")
        raise Http404("No such conversation.")
    offered = hosted.offered()
    form = ToolsForm(request.POST, offered=offered)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose among the tools this site offers.")
    on = set(form.cleaned_data["tools"])
    off = [name for name in offered if name not in on]
    Conversation.objects.filter(pk=conversation.pk).update(hosted_tools_off=off)
    return redirect("conversation", conversation.pk)
