"""Shared fixtures: a loopback fake upstream wired into settings, users, fixture replay helpers."""

import os
import socket

# The ASGI module is imported by socket tests; its process services belong to real servers.
os.environ.setdefault("CHAT_START_SERVICES_AT_IMPORT", "0")
# The automatic title request would take replies the tests queue for their own turns; the
# tests of titles switch it on (tests/test_history_titles.py). Live servers inherit this.
os.environ.setdefault("CHAT_AUTO_TITLES", "0")

import pytest

from chat.history import titles
from chat.turns import endpoint
from tests.fake_upstream import FakeUpstream

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"


def require(condition: bool, reason: str, *, required: bool) -> None:
    """Skip with a reason on a laptop; fail in CI, where the thing must be there."""
    if condition:
        return
    if required:
        pytest.fail(f"required in CI but missing: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def no_signal_handlers(settings):
    """In-process tests must not replace pytest's own Ctrl-C handling."""
    settings.CHAT_SIGNAL_HANDLERS = False
    settings.CHAT_AUTO_TITLES = False  # see the environment default above
    titles._settled.clear()  # ids come back after a rolled-back test


@pytest.fixture
def fake_upstream():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(fake_upstream, settings):
    """Point the app at the fake upstream with short timeouts and quick retries."""
    settings.OPENAI_BASE_URL = fake_upstream.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.USE_LOCAL_MODEL = False
    settings.UPSTREAM_CONNECT_TIMEOUT = 2.0
    settings.UPSTREAM_FIRST_EVENT_TIMEOUT = 5.0
    settings.UPSTREAM_IDLE_TIMEOUT = 5.0
    settings.UPSTREAM_MAX_RETRIES = 2
    settings.UPSTREAM_MAX_RETRY_WAIT = 2.0
    endpoint.reset()
    yield fake_upstream
    endpoint.reset()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")
