"""Optional single sign-on: the django-allauth OpenID Connect provider, built from the environment.

On only when OIDC_SERVER_URL, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are all set; some of them
without the others is a configuration error. See README: Accounts, teams and sharing.
"""

from typing import Any

from project.env import ConfigError, env_str

PROVIDER_ID = "sso"  # in the callback URL: /accounts/oidc/sso/login/callback/
REQUIRED = ("OIDC_SERVER_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")


def oidc_providers() -> dict[str, Any]:
    """SOCIALACCOUNT_PROVIDERS for allauth, or {} when single sign-on is not configured."""
    values = {name: env_str(name) for name in REQUIRED}
    missing = [name for name, value in values.items() if not value]
    if len(missing) == len(REQUIRED):
        return {}
    if missing:
        raise ConfigError(f"single sign-on also needs {', '.join(missing)}")
    server_url = values["OIDC_SERVER_URL"].rstrip("/")
    if not server_url.startswith(("https://", "http://")):
        raise ConfigError(f"OIDC_SERVER_URL must be an http(s) URL, not {server_url!r}")
    app = {
        "provider_id": PROVIDER_ID,
        "name": provider_name(),
        "client_id": values["OIDC_CLIENT_ID"],
        "secret": values["OIDC_CLIENT_SECRET"],
        # allauth appends /.well-known/openid-configuration to the issuer URL.
        "settings": {"server_url": server_url},
    }
    return {"openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": [app]}}


def provider_name() -> str:
    return env_str("OIDC_PROVIDER_NAME") or "Single sign-on"
