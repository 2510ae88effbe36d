"""/static/ served by the app answers 404, not 500, to paths that try to leave its folder."""

import logging

import httpx
import pytest

from project.asgi import application

pytestmark = pytest.mark.timeout(30)


async def get(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        return await client.get(path)


async def test_a_real_static_file_is_served():
    response = await get("/static/chat.css")
    assert response.status_code == 200 and b"{" in response.content


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/project/settings.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2fproject/settings.py",
        "/static/a%00b.css",
        "/static/missing.css",
    ],
)
async def test_hostile_static_paths_are_not_found_without_a_traceback(path, caplog):
    with caplog.at_level(logging.WARNING):
        response = await get(path)
    assert response.status_code == 404
    assert b"SECRET_KEY" not in response.content
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
