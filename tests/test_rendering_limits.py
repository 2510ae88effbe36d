"""Edges of chat/rendering.py that `make mutate` found untested: an image with no address or
no alt text still becomes a plain, honest link, and web_url's length limit is exact."""

from chat.rendering import render_markdown, web_url


def test_an_image_without_alt_text_is_an_untitled_link():
    html = render_markdown("![](https://example.com/cat.png)")
    assert '<a href="https://example.com/cat.png" class="image-link"' in html
    assert ">Image: untitled</a>" in html
    assert "<img" not in html


def test_an_image_without_an_address_links_nowhere():
    html = render_markdown("![a cat]()")
    assert '<a href="" class="image-link"' in html and ">Image: a cat</a>" in html
    assert "<img" not in html


def test_web_url_keeps_2048_characters_and_refuses_more():
    base = "https://example.com/"
    exact = base + "a" * (2048 - len(base))
    assert web_url(exact) == exact
    assert web_url(exact + "a") is None
