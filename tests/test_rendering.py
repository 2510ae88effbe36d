"""Model output to HTML: the nh3 sanitiser on its own, markdown on top of it, images as links."""

import pytest

from chat.rendering import render_markdown, render_plain, sanitize, web_url

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    ],
)
def test_sanitizer_drops_script_urls_from_links(url):
    html = str(sanitize(f'<a href="{url}">click</a>'))
    assert "href" not in html and "script:" not in html.lower() and "data:" not in html
    assert ">click</a>" in html


def test_sanitizer_keeps_web_and_mail_links_and_makes_them_open_safely():
    html = str(sanitize('<a href="https://example.com/a?b=1">x</a> <a href="mailto:a@b.c">m</a>'))
    assert 'href="https://example.com/a?b=1"' in html and 'href="mailto:a@b.c"' in html
    assert html.count('rel="noopener noreferrer nofollow"') == 2


@pytest.mark.parametrize(
    "attribute",
    [
        'onclick="steal()"',
        'onmouseover="steal()"',
        'hx-get="/c/new/"',
        'hx-post="/c/1/share/"',
        'hx-trigger="load"',
        'hx-on:click="steal()"',
        'data-hx-post="/c/1/share/"',
        'data-hx-trigger="load"',
        "ws-send",
        'ws-connect="/ws/conversations/2/"',
        'data-ws-send="1"',
        'style="background:url(https://evil.example/x)"',
        'id="composer"',  # would let an answer replace our own elements by id (htmx oob)
        'hx-swap-oob="true"',
    ],
)
def test_sanitizer_strips_handlers_htmx_and_ws_attributes(attribute):
    html = str(sanitize(f"<p {attribute}>text</p><a href='https://a.example' {attribute}>a</a>"))
    name = attribute.split("=")[0]
    assert name not in html, html
    assert "text" in html


@pytest.mark.parametrize(
    "markup",
    [
        "<script>steal()</script>",
        "<img src=x onerror=steal()>",
        "<iframe src='https://evil.example'></iframe>",
        "<form action='/c/new/'><button>go</button></form>",
        "<svg onload=steal()></svg>",
        "<style>body{background:url(https://evil.example)}</style>",
        "<object data='https://evil.example'></object>",
        "<input autofocus onfocus=steal()>",
    ],
)
def test_sanitizer_removes_active_elements(markup):
    html = str(sanitize(markup)).lower()
    for tag in ("<script", "<img", "<iframe", "<form", "<svg", "<style", "<object", "<input"):
        assert tag not in html
    assert "onerror" not in html and "onload" not in html and "onfocus" not in html


def test_markdown_images_become_links_and_are_never_fetched():
    html = str(render_markdown("Look: ![the *plot*](https://evil.example/p.png?secret=abc)"))
    assert "<img" not in html
    assert (
        '<a href="https://evil.example/p.png?secret=abc" class="image-link" target="_blank" '
        'rel="noopener noreferrer nofollow">Image: the plot</a>'
    ) in html


def test_markdown_image_with_a_script_url_is_not_a_link():
    html = str(render_markdown('![x](javascript:alert(1)) ![y]("><script>z</script>)'))
    assert "<img" not in html
    assert 'href="javascript' not in html and "<script" not in html


def test_markdown_raw_html_stays_text():
    html = str(render_markdown('<a href="javascript:alert(1)" hx-get="/x">raw</a> **b**'))
    assert "&lt;a href=" in html and "<strong>b</strong>" in html
    assert "<a " not in html


def test_plain_text_is_escaped():
    assert str(render_plain("<b onclick=x>&")) == "&lt;b onclick=x&gt;&amp;"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://example.com/a", "https://example.com/a"),
        ("http://example.com", "http://example.com"),
        (" HTTPS://Example.com/x ", "HTTPS://Example.com/x"),
        ("javascript:alert(1)", None),
        ("JAVASCRIPT://example.com/%0Aalert(1)", None),
        ("data:text/html,x", None),
        ("//example.com/a", None),
        ("/c/1/", None),
        ("https:example.com", None),
        ("https://" + "a" * 3000, None),
        (None, None),
        (42, None),
    ],
)
def test_web_url_allows_only_absolute_http_urls(url, expected):
    assert web_url(url) == expected


def test_code_blocks_are_highlighted_with_classes_only():
    html = str(render_markdown('```python\ndef f():\n    return "<script>"\n```'))
    assert '<pre class="highlight"><code class="language-python">' in html
    assert '<span class="k">def</span>' in html and "style=" not in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_unknown_language_and_huge_blocks_stay_plain():
    from chat.rendering import MAX_HIGHLIGHT_CHARS

    assert "<span" not in str(render_markdown("```no-such-language\nx = 1\n```"))
    huge = "x = 1\n" * (MAX_HIGHLIGHT_CHARS // 6 + 1)
    html = str(render_markdown(f"```python\n{huge}```"))
    assert "<span" not in html and "highlight" not in html


def test_an_answer_cannot_smuggle_highlight_classes_onto_other_tags():
    html = str(
        sanitize('<p class="k">a</p><pre class="other">b</pre><span class="evil k">c</span>')
    )
    assert 'class="k"' not in html.split("<span")[0] and 'class="other"' not in html
    assert "evil" not in html
