"""Generated images: saved through Django's storage at the end of a turn, served only to
people who may see their conversation (chat/permissions.py)."""

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest

from chat import permissions
from chat.models import GeneratedImage

log = logging.getLogger(__name__)
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def store_images(
    *,
    message_id: int,
    conversation_id: int,
    images: dict[int, tuple[bytes, str]],
    items: list[Any],
) -> dict[int, dict[str, Any]]:
    """Save each decoded image; returns {item position: reference kept on the item}."""
    refs: dict[int, dict[str, Any]] = {}
    for position, (data, mime) in sorted(images.items()):
        if mime not in EXTENSIONS or len(data) > settings.CHAT_MAX_IMAGE_BYTES:
            log.warning("image of message %s dropped: %s, %d bytes", message_id, mime, len(data))
            continue
        item_id = (items[position].id or "") if position < len(items) else ""
        with transaction.atomic():
            image = GeneratedImage(
                message_id=message_id,
                conversation_id=conversation_id,
                mime=mime,
                size=len(data),
                item_id=item_id[:200],
            )
            name = f"m{message_id}-{position}.{EXTENSIONS[mime]}"
            image.file.save(name, ContentFile(data), save=True)
        refs[position] = {"id": image.pk, "mime": mime, "size": len(data)}
    return refs


async def store_turn_images(state: Any, *, message_id: int, conversation_id: int) -> None:
    """The runner's hook: store what the turn drew and put a reference on each item. A
    preview is only for watching an image being drawn: none is kept in the stored answer."""
    for position, item in enumerate(state.items):
        if item.preview:
            item.preview = ""
            state.mark_changed(position)
    if not state.images:
        return
    images, state.images = state.images, {}
    refs = await sync_to_async(store_images)(
        message_id=message_id, conversation_id=conversation_id, images=images, items=state.items
    )
    for position, ref in refs.items():
        if position < len(state.items):
            state.items[position].raw["image"] = ref
            state.items[position].preview = ""
            state.mark_changed(position)


@login_required
def generated_image(request: HttpRequest, image_id: int) -> FileResponse:
    image = GeneratedImage.objects.select_related("conversation").filter(pk=image_id).first()
    # 404 rather than 403 for someone else's image: do not confirm that it exists.
    if image is None or not permissions.can_view(request.user, image.conversation):
        raise Http404("No such image.")
    response = FileResponse(image.file.open("rb"), content_type=image.mime)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
