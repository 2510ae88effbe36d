"""Pages: the conversation list and one conversation. Everything live arrives over the socket."""

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.models import ReviewLog
from chat import branches, permissions, revocation
from chat.conversation_settings import presets
from chat.conversation_settings.views import panel_context
from chat.forms import ShareForm
from chat.models import Conversation, Message
from chat.presenters import message_view
from chat.tools import choice


def sidebar(user, current: Conversation | None) -> list[dict]:
    """The person's conversations, newest first; empty ones only when open; archived ones
    are under History (chat/history/)."""
    live = Message.objects.filter(conversation=OuterRef("pk"), status__in=Message.LIVE_STATUSES)
    has_messages = Message.objects.filter(conversation=OuterRef("pk"))
    rows = (
        Conversation.objects.filter(owner=user, archived_at__isnull=True)
        .annotate(live=Exists(live), has_messages=Exists(has_messages))
        .order_by("-updated_at")[:200]
    )
    return [
        {"id": c.pk, "title": c.title, "live": c.live}
        for c in rows
        if c.has_messages or (current is not None and c.pk == current.pk)
    ]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    latest = (
        Conversation.objects.filter(owner=request.user, archived_at__isnull=True)
        .order_by("-updated_at")
        .first()
    )
    if latest is None:
        latest = Conversation.objects.create(
            owner=request.user, settings=presets.starting_settings(request.user)
        )
    return redirect("conversation", latest.pk)


@login_required
@require_POST
def new_conversation(request: HttpRequest) -> HttpResponse:
    empty = (
        Conversation.objects.filter(
            owner=request.user, messages__isnull=True, archived_at__isnull=True
        )
        .order_by("-updated_at")
        .first()
    )
    conversation = empty or Conversation.objects.create(
        owner=request.user, settings=presets.starting_settings(request.user)
    )
    return redirect("conversation", conversation.pk)


def shared_sidebar(user) -> list[dict]:
    """Others' conversations shared with one of the person's teams, newest first."""
    rows = permissions.shared_with(user).order_by("-updated_at")[:200]
    return [{"id": c.pk, "title": c.title, "owner": c.owner.get_username()} for c in rows]


@login_required
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    convo = get_object_or_404(
        Conversation.objects.select_related("owner", "shared_with"), pk=conversation_id
    )
    access = permissions.open_conversation(request.user, convo, via=ReviewLog.Via.PAGE)
    if access is None:
        raise Http404("No such conversation.")
    every = list(convo.messages.prefetch_related("usage_records"))
    messages = branches.shown_messages(convo, every)  # the branch on screen (chat/tree.py)
    elsewhere = branches.in_other_version(request.GET.get("at"), every, messages)
    context = {
        "conversation": convo,
        "access": access,
        "read_only": access.read_only,
        "share_form": None if access.read_only else _share_form(request.user, convo),
        "tools_form": None if access.read_only else choice.form_for(request.user, convo),
        **({} if access.read_only else panel_context(request.user, convo)),
        "conversations": sidebar(request.user, convo),
        "shared_conversations": shared_sidebar(request.user),
        "messages": [message_view(m) for m in messages],
        "live": any(m.is_live for m in every),
        "other_version": elsewhere,  # a search hit in a version not shown: offered to switch
        "socket_url": f"/ws/conversations/{convo.pk}/",
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        # "messages" is the transcript here, so the flash messages get their own name.
        "notices": list(flash.get_messages(request)),
    }
    return render(request, "chat/conversation.html", context)


@login_required
@require_POST
def share_conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The owner shares the conversation read-only with one of their teams, or makes it private."""
    convo = get_object_or_404(Conversation, pk=conversation_id)
    if not permissions.can_write(request.user, convo):
        if permissions.can_view(request.user, convo):
            raise PermissionDenied("Only the owner can share this conversation.")
        raise Http404("No such conversation.")
    form = ShareForm(request.POST, user=request.user)
    if not form.is_valid():
        raise PermissionDenied("You can only share with a team you belong to.")
    team = form.cleaned_data["team"]
    if not permissions.can_share(request.user, convo, team):
        raise PermissionDenied("You can only share with a team you belong to.")
    Conversation.objects.filter(pk=convo.pk).update(shared_with=team)
    revocation.access_changed(conversations=[convo.pk])  # open tabs of the old team re-check
    if team is None:
        flash.success(request, "This conversation is private again.")
    else:
        flash.success(request, f"Shared read-only with team {team}.")
    return redirect("conversation", convo.pk)


def _share_form(user, convo: Conversation) -> ShareForm | None:
    form = ShareForm(user=user, initial={"team": convo.shared_with_id})
    has_teams = form.fields["team"].queryset.exists()
    return form if has_teams or convo.shared_with_id else None
