"""Socket routes, and the one middleware the sockets need of their own."""

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from chat.consumers import SERVER_SEND, ConversationConsumer

CLOSE_NOT_FOUND = 4404


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any other socket path: refused at the handshake (URLRouter would raise, a 500)."""

    async def connect(self) -> None:
        await self.close(code=CLOSE_NOT_FOUND)


websocket_urlpatterns = [
    # At most 18 digits: a larger id cannot be a row, and overflows the database's integer.
    re_path(
        r"^ws/conversations/(?P<conversation_id>[0-9]{1,18})/$", ConversationConsumer.as_asgi()
    ),
    re_path(r"", NoSuchSocket.as_asgi()),
]


class KeepServerSend:
    """Outermost: hands consumers the server's own `send` in the scope.

    Every frame would otherwise pass through each middleware's send wrapper (the session
    middleware alone reads its lazy session twice per message), which does nothing for a
    `websocket.send`. Accept and close still take the full chain. The consumer drives this
    send by hand (chat/socket_writer.py): any server's send works, and one that never
    suspends while its transport takes data (uvicorn, daphne) costs no task wake per frame.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        return await self.app({**scope, SERVER_SEND: send}, receive, send)
