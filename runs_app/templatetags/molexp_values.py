"""``{{ value|run_value }}``: a config, param, result or metric value as people read it (SPEC §15)."""

from __future__ import annotations

from django import template

from ..selectors.run_table import value_display

register = template.Library()


@register.filter(name="run_value")
def run_value(value: object) -> str:
    return value_display(value)
