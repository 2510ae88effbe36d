"""Which server answers (chat/turns/endpoint.py): the configured URL, else OpenAI with a key,
else the local model; resolved once per process until reset."""

import pytest

from chat import local_model
from chat.turns import endpoint


@pytest.fixture
def no_endpoint(settings):
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_API_KEY = ""
    endpoint.reset()
    yield settings
    endpoint.reset()


@pytest.fixture
def local_starts(monkeypatch):
    """Record how the local model would be started instead of starting it."""
    calls: list[dict] = []

    def ensure(**kwargs):
        calls.append(kwargs)
        return "http://127.0.0.1:9/v1"

    monkeypatch.setattr(local_model, "ensure_local_model", ensure)
    return calls


def test_a_configured_base_url_wins_over_the_key(no_endpoint, local_starts):
    no_endpoint.OPENAI_BASE_URL = "http://upstream.test/v1"
    no_endpoint.OPENAI_API_KEY = "sk-test"
    assert endpoint.base_url_sync() == "http://upstream.test/v1"
    assert local_starts == []


def test_a_key_alone_means_openai(no_endpoint, local_starts):
    no_endpoint.OPENAI_API_KEY = "sk-test"
    assert endpoint.base_url_sync() == "https://api.openai.com/v1"
    assert local_starts == []


def test_neither_starts_the_local_model_with_its_settings(no_endpoint, local_starts):
    no_endpoint.LOCAL_MODEL_STATE_FILE = "/tmp/local-model-state.json"
    no_endpoint.LOCAL_MODEL_THREADS = 3
    no_endpoint.LOCAL_MODEL_PARALLEL = 5
    assert endpoint.base_url_sync() == "http://127.0.0.1:9/v1"
    assert local_starts == [
        {"state_file": "/tmp/local-model-state.json", "threads": 3, "parallel": 5}
    ]


@pytest.mark.parametrize("value", [True, False])
def test_uses_local_model_follows_the_setting(settings, value):
    settings.USE_LOCAL_MODEL = value
    assert endpoint.uses_local_model() is value


def test_uses_local_model_is_a_bool(settings):
    settings.USE_LOCAL_MODEL = 1
    assert endpoint.uses_local_model() is True


async def test_the_config_is_resolved_once_until_reset(no_endpoint, monkeypatch):
    no_endpoint.OPENAI_BASE_URL = "http://first.test/v1/"
    no_endpoint.OPENAI_API_KEY = "sk-first"
    first = await endpoint.upstream_config()
    assert first.base_url == "http://first.test/v1" and first.api_key == "sk-first"
    no_endpoint.OPENAI_BASE_URL = "http://second.test/v1"
    assert await endpoint.upstream_config() is first  # cached: settings read once
    endpoint.reset()
    second = await endpoint.upstream_config()
    assert second.base_url == "http://second.test/v1"
