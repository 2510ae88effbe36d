"""The WebSocket origin check: a socket may only be opened by a page of this site itself.

Channels' AllowedHostsOriginValidator compares host names only, so a page served on another
port (or over plain http) of the same host could drive a logged-in person's socket. This is
Django's CSRF origin rule applied to sockets: the Origin header must equal the socket's own
origin (scheme, host and port, the host in ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS.
"""

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]


def parse_origin(value: str) -> Origin | None:
    """(scheme, host, port) of an http(s) origin, the port made explicit; None if malformed."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _is_secure(scope: dict) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    # Behind a TLS proxy, the same header Django trusts for HTTP (SECURE_PROXY_SSL_HEADER).
    proxy = settings.SECURE_PROXY_SSL_HEADER
    if proxy:
        name = proxy[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        return (_header(scope, name) or "").split(",")[0].strip() == proxy[1]
    return False


def _allowed_hosts() -> list[str]:
    """ALLOWED_HOSTS as Django applies it to HTTP (with its DEBUG defaults when empty)."""
    if settings.ALLOWED_HOSTS or not settings.DEBUG:
        return settings.ALLOWED_HOSTS
    return [".localhost", "127.0.0.1", "[::1]"]


def own_origin(scope: dict) -> Origin | None:
    """The origin the socket was opened on, if its Host is one this site answers to."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    scheme = "https" if _is_secure(scope) else "http"
    return parse_origin(f"{scheme}://{host}")


def _trusted(origin: Origin) -> bool:
    """CSRF_TRUSTED_ORIGINS, with Django's `https://*.example.com` subdomain wildcard."""
    scheme, host, port = origin
    for entry in settings.CSRF_TRUSTED_ORIGINS:
        wildcard = "://*." in entry
        pattern = parse_origin(entry.replace("://*.", "://", 1))
        if pattern is None:
            continue
        p_scheme, p_host, p_port = pattern
        if (p_scheme, p_port) != (scheme, port):
            continue
        if host == p_host or (wildcard and host.endswith("." + p_host)):
            return True
    return False


def origin_allowed(scope: dict) -> bool:
    origin = parse_origin(_header(scope, b"origin") or "")
    if origin is None:  # browsers always send one; a socket without it is not from our pages
        return False
    return origin == own_origin(scope) or _trusted(origin)


class SameOriginValidator:
    """Refuses (HTTP 403 at the handshake) sockets opened from any other origin."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.app(scope, receive, send)
