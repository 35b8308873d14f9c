"""``{{ run.notes|markdown_safe }}``: Markdown rendered to sanitised HTML (SPEC §14 run notes).

markdown-it-py (CommonMark) renders with raw HTML disabled, so ``<script>`` in the text is shown
as text; nh3 (the ammonia sanitiser) then keeps only an allow-list of tags and attributes and
URL schemes (http, https, mailto), and marks links ``rel="noopener noreferrer nofollow"``. The
output is marked safe only after both steps.
"""

from __future__ import annotations

import nh3
from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

register = template.Library()

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}


def markdown_render(text: str) -> str:
    """Sanitised HTML for Markdown ``text`` (the one renderer of user Markdown)."""
    html = _MARKDOWN.render(text or "")
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


@register.filter(name="markdown_safe")
def markdown_safe(text: str) -> SafeString:
    return mark_safe(markdown_render(text))  # noqa: S308 - sanitised by nh3 just above
