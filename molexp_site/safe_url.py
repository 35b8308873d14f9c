"""The one rule for URL-valued fields (issue 12, finding 1): only ``http(s)`` URLs are stored or rendered.

Any URL that comes from a user or an imported file (a crate's source URL, …)
is checked with :func:`http_url` when it is stored (a bad one is refused with a
400) and again when it is rendered (the ``http_url`` template filter renders
nothing for a bad one), so a ``javascript:``/``data:`` URL never becomes a link
even if an older row holds one.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: Longest URL kept (longer ones are refused, never truncated into another URL).
MAX_URL_LENGTH = 2000
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\<>\"'`]")


def http_url(value: object) -> str | None:
    """``value`` when it is an absolute ``http://`` or ``https://`` URL with a host, else ``None``.

    Refused: non-strings, anything longer than ``MAX_URL_LENGTH``, control
    characters, whitespace, quotes, angle brackets or backslashes anywhere
    (browsers strip or reinterpret them: ``java\\tscript:``), other schemes,
    scheme-relative ``//host`` and URLs without a host.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH or _FORBIDDEN.search(value):
        return None
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a malformed port
    except ValueError:
        return None
    del port
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value
