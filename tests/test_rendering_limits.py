"""Edges of chat/rendering.py that `make mutate` found untested: an image with no address or
no alt text still becomes a plain, honest link; web_url's length limit is exact; sanitize keeps
exactly our attributes and URL schemes, not nh3's wider defaults."""

from chat.rendering import render_markdown, sanitize, web_url


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


def test_sanitize_keeps_exactly_the_allowed_attributes():
    html = sanitize(
        '<a href="https://example.com/" title="T" hreflang="en">x</a>'
        '<table><tr><td align="left" colspan="2">c</td></tr></table>'
    )
    assert 'title="T"' in html and 'align="left"' in html
    assert "hreflang" not in html and "colspan" not in html


def test_sanitize_keeps_only_web_and_mail_links():
    for kept in ("https://example.com/", "http://example.com/", "mailto:a@example.com"):
        assert f'href="{kept}"' in sanitize(f'<a href="{kept}">x</a>')
    for dropped in ("ftp://example.com/f", "tel:+123", "sms:+123", "javascript:alert(1)"):
        assert "href" not in sanitize(f'<a href="{dropped}">x</a>'), dropped
