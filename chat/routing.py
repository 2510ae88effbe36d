"""Socket routes, and the one middleware the sockets need of their own."""

from typing import Any

from django.urls import path

from chat.consumers import SERVER_SEND, ConversationConsumer

websocket_urlpatterns = [
    path("ws/conversations/<int:conversation_id>/", ConversationConsumer.as_asgi()),
]


class KeepServerSend:
    """Outermost: hands consumers the server's own `send` in the scope.

    Every frame would otherwise pass through each middleware's send wrapper (the session
    middleware alone reads its lazy session twice per message), which does nothing for a
    `websocket.send`. Accept and close still take the full chain.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        return await self.app({**scope, SERVER_SEND: send}, receive, send)
