"""/healthz and /readyz report each dependency to staff, only ok / not ok to anyone else, and
never ask the upstream on every probe."""

import pytest
from asgiref.sync import sync_to_async

from chat.health import upstream_check
from chat.turns import registry as registry_module

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
def fresh_checks(fresh_registry):
    """No registry, and no upstream check result remembered from another test."""
    upstream_check.reset()
    yield
    upstream_check.reset()


@pytest.fixture
async def staff_client(async_client, django_user_model):
    staff = await sync_to_async(django_user_model.objects.create_user)(
        "ops", password="pw-ops-123", is_staff=True
    )
    await async_client.aforce_login(staff)
    return async_client


def upstream_calls(upstream) -> int:
    return sum(1 for r in upstream.requests if r["path"].endswith("/models"))


async def test_anonymous_probe_learns_only_ok(async_client, upstream):
    response = await async_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert upstream.base_url not in response.content.decode()


async def test_staff_see_each_check(staff_client, upstream):
    response = await staff_client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["database"]["ok"] and body["checks"]["channel_layer"]["ok"]
    assert body["checks"]["upstream"]["status"] == 200
    assert body["checks"]["upstream"]["key_ok"] is True
    assert body["checks"]["upstream"]["base_url"] == upstream.base_url


async def test_a_logged_in_person_who_is_not_staff_sees_no_details(async_client, user, upstream):
    await async_client.aforce_login(user)
    assert (await async_client.get("/healthz")).json() == {"ok": True}
    assert set((await async_client.get("/readyz")).json()) == {"ok", "accepting_turns"}


async def test_probes_ask_the_upstream_at_most_once_per_interval(async_client, upstream, settings):
    settings.HEALTH_UPSTREAM_CACHE_SECONDS = 60
    for _ in range(5):
        assert (await async_client.get("/healthz")).status_code == 200
    assert upstream_calls(upstream) == 1
    settings.HEALTH_UPSTREAM_CACHE_SECONDS = 0  # the interval has passed
    await async_client.get("/healthz")
    assert upstream_calls(upstream) == 2


async def test_the_api_key_is_sent_only_to_the_upstream_probe(async_client, upstream):
    await async_client.get("/healthz")
    probe = next(r for r in upstream.requests if r["path"].endswith("/models"))
    assert probe["headers"]["authorization"] == "Bearer test-key"


async def test_healthz_fails_when_the_upstream_is_unreachable(staff_client, upstream):
    upstream.close()
    response = await staff_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["upstream"]["ok"] is False


async def test_anonymous_failure_reveals_no_error_text(async_client, upstream):
    upstream.close()
    response = await async_client.get("/healthz")
    assert response.status_code == 503 and response.json() == {"ok": False}


async def test_readyz_never_asks_the_upstream(async_client, upstream):
    for _ in range(3):
        assert (await async_client.get("/readyz")).status_code == 200
    assert upstream_calls(upstream) == 0


async def test_readyz_turns_unready_while_shutting_down(staff_client, upstream):
    assert (await staff_client.get("/readyz")).status_code == 200
    await registry_module.registry().shutdown(drain=0)
    response = await staff_client.get("/readyz")
    assert response.status_code == 503 and response.json()["accepting_turns"] is False
    assert response.json()["live_turns"] == 0 and response.json()["database"]["ok"]
