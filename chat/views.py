"""Pages: the conversation list and one conversation. Everything live arrives over the socket."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from chat.models import Conversation, Message
from chat.presenters import message_view


def sidebar(user, current: Conversation | None) -> list[dict]:
    """The person's conversations, newest first; empty ones only when open."""
    live = Message.objects.filter(conversation=OuterRef("pk"), status__in=Message.LIVE_STATUSES)
    has_messages = Message.objects.filter(conversation=OuterRef("pk"))
    rows = (
        Conversation.objects.filter(owner=user)
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
    latest = Conversation.objects.filter(owner=request.user).order_by("-updated_at").first()
    if latest is None:
        latest = Conversation.objects.create(owner=request.user)
    return redirect("conversation", latest.pk)


@login_required
@require_POST
def new_conversation(request: HttpRequest) -> HttpResponse:
    empty = (
        Conversation.objects.filter(owner=request.user, messages__isnull=True)
        .order_by("-updated_at")
        .first()
    )
    conversation = empty or Conversation.objects.create(owner=request.user)
    return redirect("conversation", conversation.pk)


@login_required
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    convo = get_object_or_404(Conversation, pk=conversation_id, owner=request.user)
    messages = list(convo.messages.prefetch_related("usage_records"))
    context = {
        "conversation": convo,
        "conversations": sidebar(request.user, convo),
        "messages": [message_view(m) for m in messages],
        "live": any(m.is_live for m in messages),
        "socket_url": f"/ws/conversations/{convo.pk}/",
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
    }
    return render(request, "chat/conversation.html", context)
