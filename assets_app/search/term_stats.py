"""How common each catalog word is: PostgreSQL's own statistics of ``search_vector`` (``pg_stats``).

The query compiler uses it for one decision (``compiler._pg_words``): a word found in most rows
("very common") ANDed with a rare one is checked on the rows the rare word's GIN lookup found,
instead of inside the GIN lookup. Read from ``pg_stats.most_common_elems`` (the lexemes ANALYZE
found most often, with the share of rows holding each), at most once per ``TTL_SECONDS`` per
process: the statistics change only when the table is analysed. A lexeme absent from the list is
rarer than every listed one. Nothing is known on SQLite, or before the table was first analysed.
"""

from __future__ import annotations

import time

from django.db import connection

from ..models import Asset

TTL_SECONDS = 600.0

_known: dict = {"until": 0.0, "shares": {}}


def term_shares() -> dict[str, float]:
    """``{lexeme: share of rows holding it}`` for the catalog's most common lexemes (one cached query)."""
    now = time.monotonic()
    if now < _known["until"]:
        return _known["shares"]
    shares: dict[str, float] = {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                "WHERE schemaname = current_schema() AND tablename = %s AND attname = 'search_vector'",
                [Asset._meta.db_table],
            )
            row = cursor.fetchone()
        if row and row[0]:
            shares = dict(zip(row[0], row[1], strict=False))  # the frequencies end with min, max, null share
    _known.update(until=now + TTL_SECONDS, shares=shares)
    return shares


def term_share(text: str) -> float:
    """The share of rows holding the commonest word of ``text`` (a mergeable term: ASCII words, which the
    ``simple`` configuration keeps lower-cased); 0 when none is among the most common."""
    shares = term_shares()
    return max((shares.get(word, 0.0) for word in text.lower().split()), default=0.0)


def assume(shares: dict[str, float], seconds: float = TTL_SECONDS) -> None:
    """Use ``shares`` as the statistics for ``seconds`` (tests: a known state, no lookup)."""
    _known.update(until=time.monotonic() + seconds, shares=dict(shares))


def forget() -> None:
    """Look the statistics up again at the next use."""
    _known.update(until=0.0, shares={})
