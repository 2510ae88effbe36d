"""/healthz and /readyz report each dependency, and fail when one is down."""

import pytest

from chat.turns import registry as registry_module
from chat.upstream.client import close_shared_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def fresh_registry():
    registry_module._registry = None
    yield
    registry_module._registry = None
    await close_shared_client()


async def test_healthz_checks_database_layer_and_upstream(async_client, upstream):
    response = await async_client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["database"]["ok"] and body["checks"]["channel_layer"]["ok"]
    assert body["checks"]["upstream"]["status"] == 200


async def test_healthz_fails_when_the_upstream_is_unreachable(async_client, upstream, settings):
    upstream.close()
    response = await async_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["upstream"]["ok"] is False


async def test_readyz_turns_unready_while_shutting_down(async_client, upstream):
    assert (await async_client.get("/readyz")).status_code == 200
    await registry_module.registry().shutdown(drain=0)
    response = await async_client.get("/readyz")
    assert response.status_code == 503 and response.json()["accepting_turns"] is False
