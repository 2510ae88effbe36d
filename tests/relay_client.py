"""Test helpers for sockets: connect as a user, send commands, and rebuild what a tab shows
from frames."""

import html
import json
import re

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from project.asgi import application

TEXT_DIV = r'<div id="(m\d+-i\d+-text-\d+)" class="[^"]*">(.*?)</div>'
APPEND = r'<span hx-swap-oob="beforeend:#(m\d+-i\d+-text-\d+)">(.*?)</span>'


def session_headers(user=None, origin: str = "http://127.0.0.1") -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1")]
    if user is not None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies["sessionid"].value
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return headers


async def communicator(
    conversation_id: int, user=None, origin: str = "http://127.0.0.1"
) -> WebsocketCommunicator:
    headers = await sync_to_async(session_headers)(user, origin)
    return WebsocketCommunicator(
        application, f"/ws/conversations/{conversation_id}/", headers=headers
    )


async def connected(conversation_id: int, user=None, *, wait: float = 1) -> WebsocketCommunicator:
    """An open socket on the conversation, accepted (the close code says why if not)."""
    comm = await communicator(conversation_id, user)
    ok, code = await comm.connect(timeout=wait)
    assert ok, code
    return comm


async def send(comm: WebsocketCommunicator, **command) -> None:
    """One command frame, as the page sends it: {"action": ..., ...}."""
    await comm.send_to(text_data=json.dumps(command))


class TabText:
    """Follows the answer text the way htmx would: whole renders replace, appends add."""

    def __init__(self) -> None:
        self.text: dict[str, str] = {}

    def feed(self, frame: str) -> None:
        for match in re.finditer(f"{TEXT_DIV}|{APPEND}", frame, re.S):
            if match.group(1):
                self.text[match.group(1)] = html.unescape(_strip_tags(match.group(2)))
            else:
                self.text[match.group(3)] = self.text.get(match.group(3), "") + html.unescape(
                    match.group(4)
                )

    def of(self, message_id: int) -> str:
        return self.text.get(f"m{message_id}-i0-text-0", "").strip()


def _strip_tags(fragment: str) -> str:
    return re.sub(r"<[^>]+>", "", fragment)


async def receive_until(
    comm: WebsocketCommunicator, needle: str, tab: TabText | None = None, wait: float = 5
) -> list[str]:
    """Collect frames until one contains `needle`."""
    seen = []
    while True:
        frame = await comm.receive_from(timeout=wait)
        seen.append(frame)
        if tab is not None:
            tab.feed(frame)
        if needle in frame:
            return seen
