"""An image_generation_call's base64 image (chat/turns/hosted_events.py): decoded a chunk at
a time to the exact bytes (line-wrapped base64 too), refused when it is not a PNG, JPEG or
WebP, when it holds anything but base64, or when its length is over the cap before any
decoding; and an item's text clipped to a limit keeping what came first (chat/turns/items.py)."""

import base64

from chat.turns.hosted_events import decode_image, image_mime
from chat.turns.items import Item, Part

PNG = b"\x89PNG\r\n\x1a\n"


def image(size: int, head: bytes = PNG) -> bytes:
    return head + bytes(i % 251 for i in range(size - len(head)))


def test_png_jpeg_and_webp_are_told_by_their_first_bytes_and_nothing_else_is():
    assert image_mime(image(40)) == "image/png"
    assert image_mime(b"\xff\xd8\xff\xe0" + bytes(20)) == "image/jpeg"
    assert image_mime(b"RIFF\x10\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert image_mime(b"RIFF\x10\x00\x00\x00WAVEfmt ") is None  # RIFF, but sound
    assert image_mime(b"RIFX\x10\x00\x00\x00WEBPVP8 ") is None
    assert image_mime(b"riff\x10\x00\x00\x00webpVP8 ") is None
    assert image_mime(b"GIF89a" + bytes(10)) is None


def test_an_image_decodes_to_its_exact_bytes_across_chunks():
    data = image(100_000)  # ~133 000 base64 characters: three chunks of 64 K
    assert decode_image(base64.b64encode(data).decode(), 200_000) == (data, "image/png")


def test_line_wrapped_base64_decodes_as_if_on_one_line():
    data = image(3_000)
    wrapped = base64.encodebytes(data).decode()  # a newline every 76 characters
    assert "\n" in wrapped[:100]
    assert decode_image(wrapped, 10_000) == (data, "image/png")


def test_whitespace_is_looked_for_in_the_first_kilobyte_only():
    """A long value is scanned for whitespace only at its start (the rest is decoded
    strictly): one newline past the first 1 024 characters makes it no image."""
    text = base64.b64encode(image(3_000)).decode()
    assert decode_image(text[:1024] + "\n" + text[1024:], 10_000) is None


def test_anything_but_base64_is_refused_not_skipped():
    text = base64.b64encode(image(300)).decode()
    assert decode_image(text[:200] + "*" + text[200:], 10_000) is None
    assert decode_image("", 10_000) is None
    assert decode_image(base64.b64encode(b"GIF89a" + bytes(90)).decode(), 10_000) is None


def test_the_cap_is_checked_on_the_length_before_decoding_with_room_for_padding():
    """400 base64 characters hold at most 300 bytes; the cap allows 3 more for padding."""
    data = image(300)
    text = base64.b64encode(data).decode()
    assert len(text) == 400
    assert decode_image(text, 297) == (data, "image/png")
    assert decode_image(text, 296) is None


def test_clip_keeps_what_came_first_across_parts_summaries_and_arguments():
    item = Item(type="message", parts=[Part(text="abc"), Part(text="def")])
    item.summary, item.arguments = ["gh", "ij"], "klm"
    item.clip(7)
    assert [p.text for p in item.parts] == ["abc", "def"]
    assert item.summary == ["g", ""] and item.arguments == "" and item.size() == 7
    item = Item(type="message", parts=[Part(text="abc"), Part(text="def")])
    item.code = "xyz"
    item.clip(3)
    assert [p.text for p in item.parts] == ["abc", ""] and item.code == "" and item.size() == 3
    item = Item(type="message", parts=[Part(text="abc"), Part(text="def")])
    item.clip(4)
    assert [p.text for p in item.parts] == ["abc", "d"]
