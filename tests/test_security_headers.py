"""Security headers at the root: a strict CSP everywhere, no-store on private pages, HSTS and
secure cookies behind HTTPS when configured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chat.models import Conversation

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]
ROOT = Path(__file__).resolve().parent.parent


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parts = (d.strip().split() for d in policy.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


@pytest.mark.parametrize("path", ["/accounts/login/", "/c/{id}/", "/admin/", "/readyz"])
def test_every_page_has_a_strict_content_security_policy(client, user, path):
    user.is_staff = True
    user.save()
    conversation = Conversation.objects.create(owner=user)
    client.force_login(user)
    response = client.get(path.format(id=conversation.pk))
    assert response.status_code in (200, 302)
    policy = csp_directives(response)
    assert policy["default-src"] == ["'none'"]
    for directive in ("script-src", "style-src", "connect-src"):
        assert policy[directive] == ["'self'"], directive
    assert policy["img-src"] == ["'self'", "data:"]  # data: for image-being-drawn previews
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert "unsafe" not in response["Content-Security-Policy"]


def test_pages_carry_no_inline_script_or_style(client, user):
    conversation = Conversation.objects.create(owner=user)
    client.force_login(user)
    for path in (f"/c/{conversation.pk}/", "/accounts/login/"):
        body = client.get(path).content.decode()
        assert "<style" not in body and " style=" not in body
        assert " onclick=" not in body and "hx-on" not in body
        for tag in body.split("<script")[1:]:
            assert tag.split(">")[0].count(" src=") == 1, tag[:80]  # external files only
        assert '"includeIndicatorStyles": false' in body  # htmx injects no <style> of its own


def test_private_pages_are_not_stored(client, user):
    conversation = Conversation.objects.create(owner=user)
    client.force_login(user)
    for path in (f"/c/{conversation.pk}/", "/", "/admin/login/"):
        response = client.get(path)
        cache_control = response.get("Cache-Control", "")
        assert "no-store" in cache_control and "private" in cache_control, (path, cache_control)


def test_the_login_form_is_not_stored_either(client):
    assert "no-store" in client.get("/accounts/login/")["Cache-Control"]


async def test_static_files_stay_cacheable():
    import httpx

    from project.asgi import application

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        response = await c.get("/static/chat.css")
    assert response.status_code == 200 and "no-store" not in response.headers.get(
        "cache-control", ""
    )


def test_hsts_is_sent_over_https_only_when_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    assert "Strict-Transport-Security" not in client.get("/accounts/login/")  # plain http
    secure = client.get("/accounts/login/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_behind_a_tls_proxy_the_forwarded_scheme_counts(client, settings):
    settings.SECURE_HSTS_SECONDS = 600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert response["Strict-Transport-Security"] == "max-age=600"


def test_ssl_redirect_spares_the_probes(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/accounts/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")
    assert client.get("/readyz").status_code == 200


def settings_under(env: dict[str, str], *names: str) -> list[str]:
    """Settings as a fresh process reads them from these environment variables."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        f"print('\\n'.join(repr(getattr(s, n)) for n in {names!r}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "OIDC_"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_https_settings_come_from_the_environment():
    env = {
        "SECURE_HSTS_SECONDS": "63072000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "yes",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_COOKIES": "1",
        "BEHIND_HTTPS_PROXY": "1",
        "OIDC_SERVER_URL": "https://id.example.com/realms/team",
        "OIDC_CLIENT_ID": "chat",
        "OIDC_CLIENT_SECRET": "s",
    }
    names = (
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
    )
    values = settings_under(env, *names, "CONTENT_SECURITY_POLICY")
    assert values[:-1] == [
        "63072000",
        "True",
        "True",
        "True",
        "True",
        "True",
        "('HTTP_X_FORWARDED_PROTO', 'https')",
    ]
    # The single sign-on provider's login page is reached by a redirect from our form's POST.
    assert "'form-action': [\"'self'\", 'https://id.example.com']" in values[-1]
