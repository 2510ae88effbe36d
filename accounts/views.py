"""The invite page: a new account from a one-time link, or joining its team when signed in."""

from django.contrib.auth import login
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts import services
from accounts.forms import InviteSignUpForm
from accounts.models import Invite

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def invite(request: HttpRequest, token: str) -> HttpResponse:
    found = Invite.objects.select_related("team").filter(token=token).first()
    if found is None:
        return _unusable(request, "This invite link is not valid.", status=404)
    try:
        services.check_invite(found)
    except services.InviteUnusable as exc:
        return _unusable(request, str(exc), invite=found)
    if request.user.is_authenticated:
        return _join(request, found)
    form = InviteSignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.sign_up(
                token=token,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except services.InviteUnusable as exc:
            return _unusable(request, str(exc), invite=found)
        except IntegrityError:
            form.add_error("username", "That username was just taken. Please choose another.")
        else:
            login(request, user, backend=MODEL_BACKEND)
            return redirect("home")
    return render(request, "accounts/invite.html", {"invite": found, "form": form})


def _join(request: HttpRequest, invite: Invite) -> HttpResponse:
    """Someone already signed in opens a link: a team invite adds them to the team."""
    if request.method == "POST" and invite.team_id is not None:
        try:
            services.join_team(token=invite.token, user=request.user)
        except services.InviteUnusable as exc:
            return _unusable(request, str(exc), invite=invite)
        return redirect("home")
    return render(request, "accounts/invite_signed_in.html", {"invite": invite})


def _unusable(
    request: HttpRequest, reason: str, *, invite: Invite | None = None, status: int = 410
) -> HttpResponse:
    context = {"reason": reason, "invite": invite}
    return render(request, "accounts/invite_unusable.html", context, status=status)
