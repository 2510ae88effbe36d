"""The "Log in with …" button, shown only when single sign-on is configured."""

from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("accounts/sso_button.html", takes_context=True)
def sso_button(context: template.Context) -> dict[str, Any]:
    if not settings.OIDC_ENABLED:
        return {"enabled": False}
    return {
        "enabled": True,
        "name": settings.OIDC_PROVIDER_NAME,
        "url": reverse("openid_connect_login", kwargs={"provider_id": settings.OIDC_PROVIDER_ID}),
        "next": context.get("next", ""),
        "csrf_token": context.get("csrf_token"),
    }
