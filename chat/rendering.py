"""Model output to HTML: markdown with raw HTML off, then sanitised by nh3. Output is untrusted."""

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

# "commonmark" with html=False: any <script> or <img onerror> in the source stays text.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable(["table", "strikethrough"])

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
    "img",
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
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}


def render_markdown(text: str) -> SafeString:
    """Markdown to sanitised HTML; links open safely, only http(s)/mailto URLs survive."""
    html = _markdown.render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        allowed_classes={"code": {f"language-{lang}" for lang in _LANGUAGES}},
    )
    return mark_safe(clean)  # noqa: S308 - nh3 output is safe by construction


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
