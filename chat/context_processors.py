from typing import Any

from django.conf import settings
from django.http import HttpRequest


def chat_settings(request: HttpRequest) -> dict[str, Any]:
    return {"uses_local_model": settings.USE_LOCAL_MODEL, "chat_model": settings.CHAT_MODEL}
