"""Shared fixtures: a loopback fake upstream wired into settings, users, fixture replay helpers."""

import os
import socket
from concurrent.futures import ThreadPoolExecutor

# The ASGI module is imported by socket tests; its process services belong to real servers.
os.environ.setdefault("CHAT_START_SERVICES_AT_IMPORT", "0")
# The automatic title request would take replies the tests queue for their own turns; the
# tests of titles switch it on (tests/test_history_titles.py). Live servers inherit this.
os.environ.setdefault("CHAT_AUTO_TITLES", "0")

import pytest
from asgiref.sync import SyncToAsync

from chat.history import titles
from chat.turns import endpoint
from chat.turns import registry as registry_module
from chat.upstream.client import close_shared_client
from tests.browser_steps import CHROMIUM, CHROMIUM_ARGS, serving
from tests.fake_upstream import FakeUpstream

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"


def _fresh_sync_executor() -> None:
    """A forked child (mutmut forks one per mutant, from a parent that already ran tests)
    inherits asgiref's one-thread executor with its thread counted but not running: threads
    do not survive fork, so every `sync_to_async` call would wait forever and the mutant be
    reported as a timeout. The child gets an executor of its own."""
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


os.register_at_fork(after_in_child=_fresh_sync_executor)


@pytest.fixture(autouse=True)
def _empty_local_cache():
    """Each test starts with an empty in-process cache. The per-minute turn counter
    (chat/turns/plan.py) is keyed by user id, and ids repeat from test to test (each test's
    rows are rolled back), so turns of one test counted toward the next one's limit."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    for cache in caches.all():
        if isinstance(cache, LocMemCache):
            cache.clear()


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
async def fresh_registry():
    """No turn registry or shared upstream client left from another test: both are bound to
    the event loop of the test that made them. Socket tests use it for every test."""
    registry_module._registry = None
    yield
    registry_module._registry = None
    await close_shared_client()


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


# --- the browser tests' house: one Chromium, one fake upstream and one live server a module ---


@pytest.fixture(scope="module")
def browser():
    require(
        os.path.exists(CHROMIUM),
        f"Debian's chromium is not installed at {CHROMIUM}",
        required=REQUIRE_BROWSER,
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def module_upstream():
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def server(module_upstream, tmp_path_factory):
    """A live server on the module's fake upstream; modules that need other settings have
    their own `server`."""
    with serving(
        tmp_path_factory.mktemp("live"), module_upstream, CHAT_FLUSH_INTERVAL_MS="30"
    ) as live:
        yield live
