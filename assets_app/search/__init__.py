"""Catalog search (SPEC §8): one parser (``parser``), a compiler to ``Q`` for PostgreSQL and
SQLite (``compiler``, ``expressions``), bounded execution with facets (``engine``), error-trace
grouping (``traces``) and the SQLite FTS5 fallback index (``sqlite_fts``)."""

from .engine import COUNT_CAP, FACET_CAP, MAX_OFFSET, RANK_CAP, SORTS, AssetSearch, PageTooDeep, SearchPage
from .parser import KEYS, QueryError, parse, unparse

__all__ = [
    "COUNT_CAP",
    "FACET_CAP",
    "KEYS",
    "MAX_OFFSET",
    "RANK_CAP",
    "SORTS",
    "AssetSearch",
    "PageTooDeep",
    "QueryError",
    "SearchPage",
    "parse",
    "unparse",
]
