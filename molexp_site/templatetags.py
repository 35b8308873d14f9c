"""Template filters available in every template (``TEMPLATES … "builtins"``), no ``{% load %}``."""

from __future__ import annotations

from django import template

from .units import size_display

register = template.Library()


@register.filter(name="filesize")
def filesize(value: object) -> str:
    """``{{ asset.size|filesize }}`` → ``1.5 MiB`` (``molexp_site.units``: binary units everywhere)."""
    return size_display(value)  # type: ignore[arg-type]
