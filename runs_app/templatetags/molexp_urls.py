"""``{% load molexp_urls %}``: ``{{ value|http_url }}`` renders a URL only if it is http(s) (else nothing)."""

from __future__ import annotations

from django import template

from molexp_site.safe_url import http_url as _http_url

register = template.Library()


@register.filter(name="http_url")
def http_url(value: object) -> str:
    """The URL when it is an absolute http(s) URL (``molexp_site.safe_url``), else an empty string."""
    return _http_url(value) or ""
