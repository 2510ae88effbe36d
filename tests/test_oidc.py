"""Optional single sign-on (project/oidc.py): off by default, on with three variables."""

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.conf import settings

from project.env import ConfigError
from project.oidc import oidc_providers
from tests.live_server import LiveServer

USERINFO = {
    "sub": "person-42",
    "preferred_username": "carol",
    "email": "carol@example.com",
    "email_verified": True,
}
OIDC_VARS = ("OIDC_SERVER_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_PROVIDER_NAME")


class FakeIdentityProvider:
    """A loopback OpenID provider: discovery, a token endpoint and userinfo for one person."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.token_forms: list[dict[str, list[str]]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    self.reply(provider.discovery())
                elif self.path == "/userinfo" and self.headers["Authorization"] == "Bearer at-1":
                    self.reply(USERINFO)
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                provider.requests.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                provider.token_forms.append(parse_qs(self.rfile.read(length).decode()))
                self.reply({"access_token": "at-1", "token_type": "Bearer", "expires_in": 300})

            def reply(self, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        }

    def __enter__(self) -> "FakeIdentityProvider":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def no_oidc_env(monkeypatch):
    for name in OIDC_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_without_the_variables_nothing_of_allauth_is_loaded(no_oidc_env):
    assert oidc_providers() == {}
    assert settings.OIDC_ENABLED is False
    assert not [app for app in settings.INSTALLED_APPS if app.startswith("allauth")]
    assert not [m for m in settings.MIDDLEWARE if m.startswith("allauth")]
    assert not [name for name in sys.modules if name.startswith("allauth")]


def test_the_provider_is_built_from_the_environment(no_oidc_env):
    no_oidc_env.setenv("OIDC_SERVER_URL", "https://id.example.com/realms/team/")
    no_oidc_env.setenv("OIDC_CLIENT_ID", "chat")
    no_oidc_env.setenv("OIDC_CLIENT_SECRET", "s3cret")
    (app,) = oidc_providers()["openid_connect"]["APPS"]
    assert app == {
        "provider_id": "sso",
        "name": "Single sign-on",
        "client_id": "chat",
        "secret": "s3cret",
        "settings": {"server_url": "https://id.example.com/realms/team"},
    }
    no_oidc_env.setenv("OIDC_PROVIDER_NAME", "Keycloak")
    assert oidc_providers()["openid_connect"]["APPS"][0]["name"] == "Keycloak"


def test_half_a_configuration_fails_loudly(no_oidc_env):
    no_oidc_env.setenv("OIDC_SERVER_URL", "https://id.example.com")
    with pytest.raises(ConfigError, match="OIDC_CLIENT_ID, OIDC_CLIENT_SECRET"):
        oidc_providers()
    no_oidc_env.setenv("OIDC_CLIENT_ID", "chat")
    no_oidc_env.setenv("OIDC_CLIENT_SECRET", "s")
    no_oidc_env.setenv("OIDC_SERVER_URL", "id.example.com")
    with pytest.raises(ConfigError, match="OIDC_SERVER_URL"):
        oidc_providers()


@pytest.mark.django_db
def test_login_page_has_no_sso_button_without_configuration(client):
    body = client.get("/accounts/login/").content.decode()
    assert "Log in with" not in body and 'id="sso-button"' not in body
    assert client.get("/accounts/oidc/sso/login/").status_code == 404


def test_sso_button_redirects_to_the_provider_and_its_callback_signs_in(tmp_path):
    """A real server started with the variables, against a loopback identity provider."""
    with FakeIdentityProvider() as idp:
        server = LiveServer(
            tmp_path,
            {
                "OIDC_SERVER_URL": idp.url,
                "OIDC_CLIENT_ID": "chat-client",
                "OIDC_CLIENT_SECRET": "chat-secret",
                "OIDC_PROVIDER_NAME": "Example ID",
                "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # never contacted here
                "LOGIN_FAILURE_LIMIT": "2",
            },
        ).start()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as browser:
                # Password guesses lock "carol" out of password logins (django-axes) ...
                for _ in range(2):
                    page = browser.get("/accounts/login/")
                    guessed = browser.post("/accounts/login/", data=password_form(page.text))
                # ... but not out of single sign-on: the identity provider vouches for her.
                page = browser.get("/accounts/login/?next=/")
                assert "Log in with Example ID" in page.text
                action = re.search(r'<form method="post" action="([^"]+)" class="sso">', page.text)
                assert action and action.group(1) == "/accounts/oidc/sso/login/"
                response, callback = sso_round_trip(browser, page.text)
                home = browser.get("/", follow_redirects=True)

                server.manage(
                    "shell",
                    "-c",
                    "from django.contrib.auth.models import User; "
                    "User.objects.filter(username='carol').update(is_active=False)",
                )
                locked = browser.get("/")
                page = browser.get("/accounts/login/")
                _, refused = sso_round_trip(browser, page.text)
        finally:
            server.stop()
    assert guessed.status_code == 429 and 'id="locked-out"' in guessed.text
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{idp.url}/authorize"
    assert query["client_id"] == ["chat-client"]
    assert query["redirect_uri"] == [f"{server.url}/accounts/oidc/sso/login/callback/"]
    assert query["response_type"] == ["code"]
    assert "openid" in query["scope"][0].split()
    assert query["code_challenge_method"] == ["S256"] and query["state"]
    assert "chat-secret" not in response.headers["location"]
    assert idp.requests[0] == "/.well-known/openid-configuration"
    # The callback exchanged the code (with the PKCE verifier) and signed the person in.
    form = idp.token_forms[0]
    assert form["code"] == ["c-1"] and form["client_id"] == ["chat-client"]
    assert form["code_verifier"]
    assert callback.status_code == 302 and callback.headers["location"] == "/"
    assert home.url.path.startswith("/c/") and "carol" in home.text
    # Deactivated: the session stops working and signing in through the provider is refused.
    assert locked.status_code == 302 and locked.headers["location"].startswith("/accounts/login/")
    assert refused.status_code == 302 and refused.headers["location"].endswith("/inactive/")
    assert len(idp.token_forms) == 2


def password_form(login_page: str) -> dict[str, str]:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)
    assert token
    return {"csrfmiddlewaretoken": token.group(1), "username": "carol", "password": "guess"}


def sso_round_trip(browser: httpx.Client, login_page: str) -> tuple[httpx.Response, httpx.Response]:
    """Press the SSO button, then come back from the provider with a code."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)
    assert token
    response = browser.post(
        "/accounts/oidc/sso/login/", data={"csrfmiddlewaretoken": token.group(1), "next": "/"}
    )
    state = parse_qs(urlsplit(response.headers["location"]).query)["state"][0]
    callback = browser.get(
        "/accounts/oidc/sso/login/callback/", params={"code": "c-1", "state": state}
    )
    return response, callback
