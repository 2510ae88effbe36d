"""History pages: search and list, rename/archive/delete, export, transcript review."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from accounts.models import ReviewLog
from chat import permissions
from chat.history import events, export, importing, listing, manage, search
from chat.history import review as review_facts
from chat.history.forms import HistoryForm
from chat.models import Conversation

PAGE = "chat/history.html"


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    form = HistoryForm(request.GET or None)
    context: dict = {"form": form, "query": "", "titles": [], "page": None}
    if form.is_bound and not form.is_valid():
        return render(request, PAGE, context)
    filters = form.filters() if form.is_bound else listing.Filters()
    cursor = form.cleaned_data.get("cursor", "") if form.is_bound else ""
    query = form.cleaned_data.get("q", "").strip() if form.is_bound else ""
    context["query"] = query
    if query:
        context["page"] = search.search_messages(request.user, query, filters, cursor)
        if not cursor:
            context["titles"] = search.search_titles(request.user, query, filters)
    else:
        context["page"] = listing.page(request.user, filters, cursor)
    context["more_url"] = _more_url(request, context["page"].next_cursor)
    if request.htmx and cursor:
        return render(request, f"{PAGE}#more_rows", context)
    return render(request, PAGE, context)


@login_required
@require_POST
def import_json(request: HttpRequest) -> HttpResponse:
    """A conversation from a JSON export becomes a new private conversation of this person."""
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise importing.Refused("Choose a JSON export file to import.")
        if upload.size > importing.MAX_BYTES:
            raise importing.Refused("The file is too large to import.")
        convo = importing.import_conversation(user=request.user, raw=upload.read())
    except importing.Refused as exc:
        context = {"form": HistoryForm(), "query": "", "titles": [], "page": None}
        context["import_error"] = str(exc)
        return render(request, PAGE, context, status=400)
    return redirect("conversation", convo.pk)


@login_required
@require_POST
def rename(request: HttpRequest, conversation_id: int) -> HttpResponse:
    convo = _writable(request, conversation_id)
    try:
        manage.rename(conversation=convo, title=request.POST.get("title", ""))
    except manage.Refused as exc:
        return _manage_error(str(exc))
    # The socket brings the change to every tab; the response brings it here even without one.
    return HttpResponse(events.renamed(convo)[0] + _manage_error_html(""))


@login_required
@require_POST
def archive(request: HttpRequest, conversation_id: int) -> HttpResponse:
    convo = _writable(request, conversation_id)
    manage.set_archived(conversation=convo, archived=request.POST.get("archived") == "1")
    return HttpResponse(events.archived(convo)[0] + _manage_error_html(""))


@login_required
@require_POST
def delete(request: HttpRequest, conversation_id: int) -> HttpResponse:
    _writable(request, conversation_id)
    try:
        manage.delete(conversation_id=conversation_id)
    except manage.Refused as exc:
        return _manage_error(str(exc))
    return HttpResponse(status=204, headers={"HX-Redirect": reverse("home")})


@login_required
@require_GET
def export_one(request: HttpRequest, conversation_id: int, kind: str) -> HttpResponse:
    convo = _readable(request, conversation_id)
    if kind == "json":
        body, content_type = export.as_json(convo), "application/json"
    elif kind == "md":
        body, content_type = export.as_markdown(convo).encode(), "text/markdown; charset=utf-8"
    else:
        raise Http404("Unknown export format.")
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename(convo, kind)}"'
    return response


@login_required
@require_GET
def export_all(request: HttpRequest) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        export.zip_stream(request.user), content_type="application/zip"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="conversations-{stamp}.zip"'
    return response


@login_required
@require_GET
def review(request: HttpRequest, conversation_id: int) -> HttpResponse:
    convo = get_object_or_404(
        Conversation.objects.select_related("owner", "shared_with"), pk=conversation_id
    )
    access = permissions.open_conversation(request.user, convo, via=ReviewLog.Via.PAGE)
    if access is None:
        raise Http404("No such conversation.")
    context = {"conversation": convo, "access": access, "answers": review_facts.answers(convo)}
    return render(request, "chat/review.html", context)


def _writable(request: HttpRequest, conversation_id: int) -> Conversation:
    convo = get_object_or_404(Conversation, pk=conversation_id)
    if permissions.can_write(request.user, convo):
        return convo
    if permissions.can_view(request.user, convo) and not permissions.is_review(request.user, convo):
        raise PermissionDenied("Only the owner can change this conversation.")
    raise Http404("No such conversation.")


def _readable(request: HttpRequest, conversation_id: int) -> Conversation:
    """Owner or team member (a staff review reads the review page, not exports)."""
    convo = get_object_or_404(
        Conversation.objects.select_related("owner", "shared_with"), pk=conversation_id
    )
    if not permissions.can_view(request.user, convo) or permissions.is_review(request.user, convo):
        raise Http404("No such conversation.")
    return convo


def _manage_error_html(message: str) -> str:
    return format_html(
        '<div id="manage-error" class="composer-error" role="alert" hx-swap-oob="true">{}</div>',
        message,
    )


def _manage_error(message: str) -> HttpResponse:
    # 200, so htmx swaps the message in (it ignores error statuses by default).
    return HttpResponse(_manage_error_html(message))


def _more_url(request: HttpRequest, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    params = request.GET.copy()
    params["cursor"] = cursor
    return f"{reverse('history:index')}?{params.urlencode()}"
