"""JSON from requests, bounded in depth (issue 12, finding 8: a 100 000-level body was a 500).

``json.loads`` recurses once per nesting level, so a deep enough body raises
``RecursionError`` (not ``ValueError``) and, below that, a deep value can still exhaust
the recursion of later code that walks it (validation, hashing, rendering). Every JSON
a request carries — API bodies (``BoundedJSONParser``, the default parser) and JSON typed
into forms (``json_loads_bounded``) — is refused past ``MOLEXP_JSON_MAX_DEPTH`` levels
(default 100) with a clear 400 / form error.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONTooDeep(ValueError):
    """The JSON is nested more deeply than ``MOLEXP_JSON_MAX_DEPTH``."""


def max_depth() -> int:
    return int(getattr(settings, "MOLEXP_JSON_MAX_DEPTH", 100))


def _too_deep(limit: int) -> JSONTooDeep:
    return JSONTooDeep(f"JSON nested more than {limit} levels deep.")


def json_check_depth(value: Any, *, limit: int | None = None) -> Any:
    """Return ``value`` if its lists and objects nest at most ``limit`` levels, else raise ``JSONTooDeep``.

    Iterative, so it never recurses itself, whatever the value.
    """
    limit = max_depth() if limit is None else limit
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise _too_deep(limit)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


def json_loads_bounded(text: str | bytes, *, limit: int | None = None) -> Any:
    """``json.loads`` that raises ``JSONTooDeep`` (a ``ValueError``) for too deep a document."""
    limit = max_depth() if limit is None else limit
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(limit) from None
    return json_check_depth(value, limit=limit)


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, with a 400 instead of a 500 for a body nested too deeply."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - {_too_deep(max_depth())}") from None
        try:
            return json_check_depth(data)
        except JSONTooDeep as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
