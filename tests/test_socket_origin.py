"""Sockets open only from this site's own origin: scheme, host and port all count."""

import logging

import pytest
from channels.testing import WebsocketCommunicator

from chat.models import Conversation
from project.asgi import application
from project.origin import origin_allowed, parse_origin
from tests.relay_client import communicator, session_headers

pytestmark = pytest.mark.timeout(30)


def scope(origin: str | None, host: str = "127.0.0.1:8000", scheme: str = "ws", **extra) -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    return {"type": "websocket", "scheme": scheme, "headers": headers}


def test_the_sites_own_origin_is_allowed():
    assert origin_allowed(scope("http://127.0.0.1:8000"))
    assert origin_allowed(scope("http://LOCALHOST:8000", host="localhost:8000"))
    assert origin_allowed(scope("http://127.0.0.1", host="127.0.0.1:80"))  # default port
    assert origin_allowed(scope("https://127.0.0.1", host="127.0.0.1", scheme="wss"))


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9999",  # another port of the same host: the reported attack
        "https://127.0.0.1:8000",  # another scheme
        "http://localhost:8000",  # another host name, even an allowed one
        "http://evil.example:8000",
        "null",  # sandboxed iframes and file:// pages
        "http://127.0.0.1:notaport",
        "",
    ],
)
def test_any_other_origin_is_refused(origin):
    assert not origin_allowed(scope(origin))


def test_a_socket_without_origin_or_with_a_foreign_host_is_refused():
    assert not origin_allowed(scope(None))
    assert not origin_allowed(scope("http://evil.example", host="evil.example"))
    assert not origin_allowed({"type": "websocket", "headers": [(b"origin", b"http://x")]})


def test_with_debug_and_no_allowed_hosts_django_s_local_defaults_apply(settings):
    settings.ALLOWED_HOSTS, settings.DEBUG = [], True
    assert origin_allowed(scope("http://localhost:8000", host="localhost:8000"))
    assert not origin_allowed(scope("http://chat.example.com", host="chat.example.com"))
    settings.DEBUG = False
    assert not origin_allowed(scope("http://localhost:8000", host="localhost:8000"))


def test_plain_http_page_cannot_drive_the_https_site(settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    behind_tls = {"host": "chat.example.com", "x-forwarded-proto": "https"}
    assert origin_allowed(scope("https://chat.example.com", **behind_tls))
    assert not origin_allowed(scope("http://chat.example.com", **behind_tls))
    # Without the proxy setting, the header is not believed.
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not origin_allowed(scope("https://chat.example.com", **behind_tls))


def test_csrf_trusted_origins_are_allowed_with_port_and_scheme(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com", "https://*.corp.example"]
    assert origin_allowed(scope("https://chat.example.com"))
    assert origin_allowed(scope("https://chat.example.com:443"))
    assert origin_allowed(scope("https://team.corp.example"))
    assert not origin_allowed(scope("http://chat.example.com"))
    assert not origin_allowed(scope("https://chat.example.com:8443"))
    assert not origin_allowed(scope("https://corp.example.evil"))


def test_parse_origin_makes_the_port_explicit():
    assert parse_origin("HTTPS://Chat.Example.com") == ("https", "chat.example.com", 443)
    assert parse_origin("http://[::1]:8000") == ("http", "::1", 8000)
    assert parse_origin("ftp://example.com") is None


@pytest.mark.django_db(transaction=True)
async def test_the_full_socket_stack_refuses_another_port_and_accepts_its_own(user):
    conversation = await Conversation.objects.acreate(owner=user, title="Mine")
    path = f"/ws/conversations/{conversation.pk}/"
    headers = [h for h in await _headers(user) if h[0] not in (b"host", b"origin")]
    for origin, accepted in (("http://127.0.0.1:9999", False), ("http://127.0.0.1:8000", True)):
        comm = WebsocketCommunicator(
            application,
            path,
            headers=[*headers, (b"host", b"127.0.0.1:8000"), (b"origin", origin.encode())],
        )
        connected, _ = await comm.connect()
        assert connected is accepted, origin
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path",
    ["/ws/conversations/-1/", "/ws/conversations/abc/", "/ws/nowhere", "/ws/conversations/9" * 30],
)
async def test_unknown_socket_paths_close_cleanly_without_a_traceback(path, user, caplog):
    headers = await _headers(user)
    comm = WebsocketCommunicator(application, path, headers=headers)
    with caplog.at_level(logging.WARNING):
        connected, code = await comm.connect()
    assert not connected and code == 4404
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.django_db(transaction=True)
async def test_an_id_too_large_for_the_database_is_not_found(user):
    comm = await communicator(10**20, user)
    connected, code = await comm.connect()
    assert not connected and code == 4404


async def _headers(user):
    from asgiref.sync import sync_to_async

    return await sync_to_async(session_headers)(user)
