"""A generated image is decoded and checked, saved through Django's storage (not into the
items JSON), and served only to people who may see its conversation."""

import base64
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from chat.models import GeneratedImage, Message
from chat.turns.hosted_events import decode_image
from tests import fake_upstream as fake
from tests import hosted_streams as synth

pytestmark = pytest.mark.django_db(transaction=True)
PNG = base64.b64decode(synth.PNG_B64)


def ask_for_an_image(upstream, username: str = "owner") -> dict:
    upstream.enqueue(fake.events(synth.image_generation()))
    out = StringIO()
    call_command("ask", "--json", "--user", username, "draw a dot", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue().splitlines()[-1])


def test_the_image_is_stored_and_served_only_to_people_who_may_see_it(
    upstream, settings, tmp_path, django_user_model
):
    settings.MEDIA_ROOT = tmp_path
    result = ask_for_an_image(upstream)
    image = GeneratedImage.objects.get()
    assert image.message_id == result["message"] and image.mime == "image/png"
    assert (tmp_path / image.file.name).read_bytes() == PNG  # in storage, byte for byte
    stored = Message.objects.get(pk=result["message"])
    assert synth.PNG_B64[:24] not in json.dumps(stored.items)  # not in the items JSON
    assert stored.items[0]["raw"]["image"]["id"] == image.pk and not stored.items[0]["preview"]

    owner = Client()
    owner.force_login(django_user_model.objects.get(username="owner"))
    response = owner.get(f"/images/{image.pk}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    page = owner.get(f"/c/{stored.conversation_id}/").content.decode()
    assert f'<img src="/images/{image.pk}"' in page

    stranger = Client()
    stranger.force_login(django_user_model.objects.create_user(username="stranger"))
    assert stranger.get(f"/images/{image.pk}").status_code == 404
    assert stranger.get("/images/999999").status_code == 404
    anonymous = Client().get(f"/images/{image.pk}")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_images_over_the_cap_or_not_images_are_refused():
    assert decode_image(synth.PNG_B64, limit=10_000) == (PNG, "image/png")
    assert decode_image(synth.PNG_B64, limit=20) is None  # over the cap, before decoding
    assert decode_image(base64.b64encode(b"GIF89a" + b"\0" * 30).decode(), 10_000) is None
    assert decode_image("not base64 at all!!", 10_000) is None
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 200_000).decode()
    assert decode_image(big, limit=100_000) is None
    assert decode_image(big, limit=300_000)[1] == "image/png"  # decoded a chunk at a time


def test_a_drawing_cut_short_keeps_no_preview(upstream, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    events = synth.image_generation()
    cut = next(i for i, e in enumerate(events) if e["type"].endswith("partial_image")) + 1
    upstream.enqueue(fake.events(events[:cut]))  # the stream ends mid-drawing
    out = StringIO()
    try:
        call_command("ask", "--json", "draw", stdout=out, stderr=StringIO())
    except SystemExit:
        pass
    result = json.loads(out.getvalue().splitlines()[-1])
    assert result["status"] == "failed"
    stored = Message.objects.get(pk=result["message"])
    assert stored.items[0]["type"] == "image_generation_call"
    assert stored.items[0]["preview"] == "" and not GeneratedImage.objects.exists()
