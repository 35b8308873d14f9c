"""Executing a catalog search with bounded cost (MEASURED.md: never rank every hit, no exact
COUNT over huge sets, no deep OFFSET).

- Counting: ``COUNT(*)`` over at most ``COUNT_CAP + 1`` matching ids; above the cap the
  result says ``count_capped`` ("1000+"). No count statement when a read already showed the
  number: a short page, fewer candidates than ``RANK_CAP``, or (PostgreSQL, ranked, whole set) the
  listed ids of the newest ``COUNT_CAP + 1`` hits (``_ranked_slice``).
- Relevance: only the newest ``RANK_CAP`` matching rows are ranked (``ts_rank`` /
  FTS5 ``bm25``); results after them follow in recency order. Without free words
  relevance is recency.
- Paging: page numbers, offsets at most ``MAX_OFFSET`` (deeper: refine the query).
- Rows (PostgreSQL): a page's ids are chosen first, from the query's own tables, and the rows read
  by primary key with the shape's joins (``IdInArray``, ranked and unranked alike): the planner
  meets two small join problems instead of one of 6–7 relations (``_read``).
- Run-side filters (PostgreSQL): the ranked candidates of a query that ANDs ``status:`` or
  ``config_hash:`` (a join to the producing run) with the rest are first taken from the newest
  ``SPLIT_CANDIDATES`` hits of the rest, which the planner estimates from the asset table alone;
  kept only when ``RANK_CAP`` of them pass, so the result is exactly the plain query's.
- Facets: kind × project × producing-run status counted in ONE grouped query over
  the newest ``FACET_CAP`` matching rows (``capped`` when cut, stated on the page and in the
  API), sampled in the recency windows ``FACET_WINDOWS``.
- Recency windows (newest-first orders: relevance candidates, unranked relevance,
  ``sort=newest``): the page is first computed among the newest ``WINDOWS[0]`` ids
  (``id >= bound`` / ``created_at >=`` the created_at at that id), then ``WINDOWS[1]``,
  then over everything. Each window is the same single query with one more range
  condition, which the planner answers from a bitmap AND of the text GIN and a BRIN range
  (migration 0007): a mid-frequency word visits the heap only for its hits among recent
  rows instead of for every hit (bitmap then sort) or for every recent row (index walk then
  filter). A frequent word still walks the id / ``(created_at, id)`` index and stops after a
  page; a rare one falls through to the GIN. The BRIN narrows only while new rows sit in new pages:
  inserts that fill the free-space slivers ``VACUUM`` records in old pages put a recent id in every
  range, and the windows then narrow nothing until the table is clustered again (docs/performance.md,
  *Search after a burst of rows*). A window is used only if it held enough hits
  (``COUNT(*) OVER ()`` of the ranked candidates, or a full slice), and windows are
  supersets of each other, so the result is exactly the unwindowed one. Cost: one
  primary-key lookup per search for the largest id (plus one per window for ``newest``).
  SQLite windows too (relevance candidates, ``newest``, the capped count, facets): each FTS5
  subquery gets the window's rowid floor, so a common word lists its hits among the newest
  ids instead of all 770 000 of them (at 1 M assets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db import connection
from django.db.models import Count, F, Min, QuerySet, Window

from runs_app.models import Project, Run

from .compiler import COMMON_SHARE, compile_query
from .expressions import FTS_TABLE, IdInArray, fts5_quote, id_in, text_rank
from .parser import And, Filter, Node, positive_terms
from .term_stats import term_share

COUNT_CAP = 1000
RANK_CAP = 200
FACET_CAP = 1000  # facets count the newest this many hits (the page says so when cut)
FACET_WINDOWS = (16_384, 65_536, 262_144, 1_048_576, 4_194_304)  # ×4 steps: a sample is 20× a page
MAX_OFFSET = 10_000
WINDOWS = (65_536, 524_288)  # newest ids searched first (then everything older)
WINDOW_MAX_ROWS = 1_000  # rows wanted above which windows are not worth it (deep pages)
#: PostgreSQL uses a page's window (``WINDOWS``) for a query with words only on a table at least this
#: many times its size. The window's range comes from a BRIN index, whose bitmap is lossy: ANDed
#: with the text GIN's, every row of a heap page holding a hit is rechecked (≈ 7 asset rows a page),
#: so such a window pays only when it keeps well under 1/8 of the hits. A window of 65 % of a
#: 100 000-asset table made a mid word's candidates cost 7.8 ms (2 562 rows rechecked for 367)
#: against 2.5 ms for the plain GIN bitmap. Facet samples and queries without words (kind, status)
#: keep every window that fits: measured, they lose without them.
WINDOW_TABLE_SHARE = 8
SPARSE_HITS = 20_000  # after the windows, at most this many hits expected: list them first (``_rest``)
SPARSE_WALK_ROWS = 262_144  # ... when a newest-first walk for them would visit at least this many rows
#: Filters on the producing run's row (a join). PostgreSQL estimates them as independent of the asset's
#: own conditions, and they are not: error traces come from failed runs. ``kind:error_trace status:failed``
#: plus a common word was estimated at 342 hits of 9 257, so the planner listed and sorted all 9 257
#: (31–81 ms, depending on the run table's statistics) instead of walking the newest ids (3.8 ms).
RUN_SIDE_KEYS = frozenset({"status", "config_hash"})
#: ... so the ranked candidates of such a query are first looked for among this many of the newest hits
#: of the rest of the query (``AssetSearch.asset_side``), whose estimate is the asset table's own: enough
#: when at most a fifth of them fail the run-side filters. Each hit more is walked: 400 cost ~3 ms more
#: than the plain query's walk when the planner chose it (a fresh bench database), 250 ~1 ms.
SPLIT_CANDIDATES = RANK_CAP + RANK_CAP // 4
#: ... and their capped count is taken newest first on a table of more than this many rows
#: (``AssetSearch._count_newest_first``): a table too large for its oldest pages to stay cached.
COUNT_NEWEST_ROWS = 4_194_304
SORTS = {
    "relevance": ("-id",),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "name": ("name", "-version", "id"),
    "size": ("-size", "-id"),
}


@dataclass
class SearchPage:
    rows: list
    number: int
    page_size: int
    count: int
    count_capped: bool
    has_next: bool
    sort: str
    ranked: bool
    facets: dict[str, Any] | None = field(default=None)

    @property
    def object_list(self) -> list:
        return self.rows

    @property
    def paginator(self) -> SimpleNamespace:
        """Django ``Page`` compatibility: ``paginator.count`` (capped) and ``num_pages``."""
        return SimpleNamespace(count=self.count, num_pages=-(-self.count // self.page_size) if self.count else 1)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def count_display(self) -> str:
        return f"{self.count}+" if self.count_capped else str(self.count)

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.page_size + 1 if self.rows else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.page_size + len(self.rows)

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _asset_side(base: QuerySet, node: Node | None) -> QuerySet | None:
    """PostgreSQL: ``base`` filtered by ``node`` without its run-side filters (``RUN_SIDE_KEYS``), when
    the query ANDs some with the rest at its top level; None otherwise (a superset of the match)."""
    if connection.vendor != "postgresql" or node is None:
        return None
    children = node.children if isinstance(node, And) else (node,)
    rest = tuple(c for c in children if not (isinstance(c, Filter) and c.key in RUN_SIDE_KEYS))
    if len(rest) == len(children):
        return None
    return base.filter(compile_query(rest[0] if len(rest) == 1 else And(rest) if rest else None))


class AssetSearch:
    """A compiled search over an already user-scoped, column-filtered queryset."""

    def __init__(self, base: QuerySet, node: Node | None, *, sort: str = "relevance", shape=None, finish=None) -> None:
        """``shape(qs)`` makes a queryset of ``base`` (or of its model) read the result rows' shape
        (``select_related``/``only``/annotated values; applied only where rows are read, so the
        annotations' joins stay out of the id, count and facet queries);
        ``finish(rows)`` completes the chosen page's rows (one query at most, e.g. a prefetch)."""
        self.node = node
        self.shape = shape or (lambda qs: qs)
        self._finish = finish
        self.sort = sort if sort in SORTS else "relevance"
        self.base = base
        self.matching = base.filter(compile_query(node))
        self.asset_side = _asset_side(base, node)
        self.terms = [(t.text.strip(), t.phrase) for t in positive_terms(node)]
        self._bounds: dict = {}  # "top" (largest id) and the window bounds by (order, window)
        self._hits: int | None = None  # the number of hits, when a read of rows already showed it (``count``)

    def finish(self, rows: list) -> list:
        return self._finish(rows) if self._finish and rows else rows

    @property
    def ranked(self) -> bool:
        return self.sort == "relevance" and bool(self.terms)

    def _bound(self, by: str, size: int):
        """The lower bound of the window of the newest ``size`` ids ("id": an id, "created": a
        ``created_at``), or None when the table is smaller than that. Looked up once per search,
        lazily: the largest id (one query), and for "created" the created_at there (one more)."""
        key = (by, size)
        if key not in self._bounds:
            # every row, trashed ones too: any bound keeps the windows exact (a window is used only
            # when it held enough hits), and the primary key alone answers (no heap visit for ``trash``)
            rows = self.matching.model._base_manager
            if "top" not in self._bounds:
                self._bounds["top"] = rows.order_by("-id").values_list("id", flat=True).first() or 0
            top, bound = self._bounds["top"], None
            if top > size:
                bound = top - size + 1
                if by == "created":
                    bound = rows.filter(id__gte=bound).order_by("id").values_list("created_at", flat=True).first()
            self._bounds[key] = bound
        return self._bounds[key]

    def _windowed(self, fetch, need: int, by: str, windows: tuple[int, ...] | None = None, whole=None) -> list:
        """``fetch(qs)`` over ``self.matching`` restricted to the newest window that holds at
        least ``need`` hits (``fetch`` returns its result and how many hits the window held,
        capped); the whole ``self.matching`` when no window does or the table is small.

        Windows (``WINDOWS`` unless given) are supersets (``column >= bound``); if one holds
        ``need`` hits, the first ``need`` hits in newest-first order are all inside it, so the
        result is exactly the unwindowed one. After a window that held too few, the next one
        tried is the smallest whose size, at the density just seen, should hold ``need``; when
        none should, the search goes straight to the whole set (a rare word: one GIN query more).
        ``whole`` (a dict): its ``"set"`` says, during each ``fetch``, whether it is over the whole set."""
        share = WINDOW_TABLE_SHARE if windows is None and self.terms and connection.vendor == "postgresql" else 1
        windows = WINDOWS if windows is None else windows
        i, seen = 0, None
        while i < len(windows):
            window = self._window(by, windows[i], share)
            if window is None:
                break
            if whole is not None:
                whole["set"] = False
            result, held = fetch(window)
            if held >= need:
                return result
            seen = (held, windows[i])
            i = next((j for j in range(i + 1, len(windows)) if held * windows[j] >= need * windows[i]), len(windows))
        if whole is not None:
            whole["set"] = True
        return fetch(self._rest(seen, need))[0]

    def _rest(self, seen: tuple[int, int] | None, need: int) -> QuerySet:
        """The whole set, after windows that held too few hits (``seen``: the last one's hits and size).

        PostgreSQL, when the hits seen, spread over the whole table, come to at most ``SPARSE_HITS``
        while a newest-first walk would visit at least ``SPARSE_WALK_ROWS`` rows to find ``need``
        of them: the hits are listed first (the ids of the unordered match, which the text GIN answers)
        and only they are ordered, by primary key (``id_in``). Left to itself with an order and
        a limit, PostgreSQL trusts its estimate of a word that is not among the column's most common
        elements (0.1 % of the rows at 10 M assets) and walks the id index filtering every row: a
        rare word read 2.9 M rows for 200 hits (3 s). On a smaller table the walk is short whatever
        the planner chooses, and the plain query stays. The result is the same rows either way.
        The list is capped at ``SPARSE_HITS + 1`` ids (one ``fetchall``, unordered: the GIN answers and
        the heap scan stops there): when the cap is reached the windows misled (new rows without the
        query's words, e.g. a sweep's logs, had filled the newest ids) and the plain query follows,
        whose newest-first walk then finds its page quickly. Listed uncapped, a word in 77 % of 1 M
        assets behind 16 000 such new rows was listed whole: 770 000 ids, 1.1 s per facet count.
        A word with no hits at all, the usual rare case, costs one GIN lookup instead of a walk over
        every row."""
        if seen is None or connection.vendor != "postgresql":
            return self.matching
        held, size = seen
        top = self._bounds.get("top", 0)
        walk = min(top, need * size // max(held, 1))
        if held * top > SPARSE_HITS * size or walk < SPARSE_WALK_ROWS:
            return self.matching
        sql, params = self.matching.order_by().values("pk")[: SPARSE_HITS + 1].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids = [row[0] for row in cursor.fetchall()]
        if len(ids) > SPARSE_HITS:
            return self.matching
        # by primary key only: the listed ids are the match already (no second text match per row)
        return self.matching.model._base_manager.filter(id_in(ids))

    def _window(self, by: str, size: int, share: int = 1) -> QuerySet | None:
        """``self.matching`` restricted to the newest ``size`` ids (``by`` "id") or to the rows
        created since the row ``size`` ids from the top (``by`` "created"); None when the table
        holds at most ``share`` times ``size`` rows. On SQLite the FTS5 subqueries are compiled
        again with a rowid floor (the window's lowest id; for "created" the lowest id created since, one query), or they
        would list every hit of a word whatever the window (770 000 for a common one at 1 M)."""
        bound = self._bound(by, size)
        if bound is None or self._bounds["top"] <= size * share:
            return None
        column = "id" if by == "id" else "created_at"
        if connection.vendor == "postgresql":
            return self.matching.filter(**{f"{column}__gte": bound})
        floor = bound
        if by == "created":
            key = ("floor", size)
            if key not in self._bounds:
                # every row, trashed ones too (a lower floor is still exact), so asset_created_id alone
                # answers; MIN(id + 0): plain MIN(id) made SQLite walk the rowids up from 1 (1.1 s)
                rows = self.matching.model._base_manager.filter(created_at__gte=bound)
                lowest = rows.aggregate(m=Min(F("id") + 0))["m"]
                self._bounds[key] = lowest or 0
            floor = self._bounds[key]
        # "created" (sort=newest): the lists are probed while SQLite walks asset_created_id
        matching = self.base.filter(compile_query(self.node, fts_floor=floor, fts_probe=by == "created"))
        return matching.filter(**{f"{column}__gte": bound})

    def _saw_all(self, start: int, read: int, wanted: int) -> None:
        """Note the number of hits when a read of ``wanted`` rows from ``start`` came back short
        (``read`` < ``wanted``, ``read`` > 0 or ``start`` == 0): the result ends there. A short read
        is always over the whole set (a window is used only when it held every row wanted)."""
        if read < wanted and (read or not start):
            self._hits = start + read

    def count(self) -> tuple[int, bool]:
        """``(min(hits, COUNT_CAP), hits > COUNT_CAP)``: one ``COUNT(*)`` over at most ``COUNT_CAP + 1``
        ids, or none when the page's read already came to the end of the result (fewer hits than a
        page, or than the ``RANK_CAP`` ranked candidates: ``_saw_all``). On SQLite first in the recency
        windows (a window holding more than the cap proves the cap; otherwise the whole set is counted
        exactly): there the FTS5 list of a common word is the cost, not the rows counted."""
        if self._hits is not None:
            return min(self._hits, COUNT_CAP), self._hits > COUNT_CAP

        def fetch(matching: QuerySet, order: tuple[str, ...] = ()) -> tuple[int, int]:
            n = matching.order_by(*order).values("pk")[: COUNT_CAP + 1].count()
            return n, n

        if connection.vendor == "postgresql":
            n = fetch(self.matching, ("-id",) if self._count_newest_first() else ())[0]
        else:
            n = self._windowed(fetch, COUNT_CAP + 1, "id")
        return min(n, COUNT_CAP), n > COUNT_CAP

    def _count_newest_first(self) -> bool:
        """PostgreSQL: count the newest hits (``ORDER BY id DESC`` under the cap's LIMIT) for a query
        ANDing run-side filters whose words are all very common (``COMMON_SHARE``; no words at all
        included). Unordered, PostgreSQL took the run join as independent of the asset's conditions
        (error traces come from failed runs) and counted from the oldest rows or from every failed
        run's assets, pages a table larger than memory seldom keeps cached: ``kind:error_trace
        status:failed`` + a common word took 85–165 ms at 10 M assets, newest first 10–18 ms (the recent
        part of the table, which the page's own read has just visited). Not for rarer words: newest first,
        ``status:failed`` + a word in 0.7 % of 10 M rows took 520 ms against 60 ms unordered. Nor on a
        table of at most ``COUNT_NEWEST_ROWS`` rows (the largest id: known from the page's read, or one
        lookup by primary key for a keyset page): there the unordered count's pages stay cached and it
        is the faster (1 M assets, a fresh database: 5–7 ms against 12–14 newest first; at 100 000
        PostgreSQL, asked for the newest, joined every failed run's error traces and sorted them:
        37 ms against 3 ms)."""
        if self.asset_side is None:
            return False
        if not all(len(text.split()) == 1 and term_share(text) >= COMMON_SHARE for text, _ in self.terms):
            return False
        return self._bound("id", COUNT_NEWEST_ROWS) is not None  # last: a keyset page has not read it yet

    def _ranked_slice(self, start: int, stop: int) -> list:
        """Rows ``start``..``stop`` of the ranked result (PostgreSQL; SQLite: ``_ranked_slice_sqlite``):
        the newest ``RANK_CAP`` hits, scored and ordered.

        Inside a recency window, and for queries with run-side filters, ONE statement: the candidates
        as a subquery (``held``: how many there were). Over the whole set otherwise, the ids of up to
        ``COUNT_CAP + 1`` newest hits are listed first, then the newest ``RANK_CAP`` of them read and
        scored by primary key (an array parameter): the ids give the capped count too (``_hits``), so
        the count's statement is not run. Listing 1 001 hits walks the rows the count walked: two
        common words at 100 000 assets walked 1 500 rows for the candidates, then 7 100 for the count.
        A window's hits do not give the total count, so there the single statement stays (the listing
        would be one statement more); with run-side filters PostgreSQL underestimates the hits (the
        run join taken as independent) and, asked for 1 001 of them, sorted every hit of a window
        (120 ms at 1 M assets)."""
        if connection.vendor == "sqlite":
            return self._ranked_slice_sqlite(start, stop)
        rank = text_rank(self.terms, vendor=connection.vendor)
        whole = {"set": False}  # is the fetch over the whole set? (``_windowed``)

        def ranked(matching: QuerySet) -> tuple[list, int]:
            candidates = matching.order_by("-id").values("pk")[:RANK_CAP]
            # Rank by id only (the candidates already satisfy the query): never re-run the
            # match; ``held`` = how many candidates there were (COUNT(*) OVER () before LIMIT).
            qs = (
                self.shape(self.matching.model.objects.filter(IdInArray(candidates)))
                .annotate(search_rank=rank, held=Window(Count("id")))
                .order_by("-search_rank", "-id")
            )
            rows = list(qs[start:stop])
            return rows, (rows[0].held if rows else 0)

        def listed(matching: QuerySet) -> tuple[list, int]:
            limit = max(COUNT_CAP + 1, RANK_CAP)
            # one fetchall: Django's flat values iterator cost ~1 ms of Python per 1 000 ids
            sql, params = matching.order_by("-id").values("pk")[:limit].query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                ids = [row[0] for row in cursor.fetchall()]
            if len(ids) < limit or len(ids) > COUNT_CAP:  # every hit, or more than the cap
                self._hits = len(ids)
            if not ids:
                return [], 0
            qs = self.shape(self.matching.model.objects.filter(id_in(ids[:RANK_CAP])))
            return list(qs.annotate(search_rank=rank).order_by("-search_rank", "-id")[start:stop]), len(ids)

        def choose(matching: QuerySet) -> tuple[list, int]:
            if not whole["set"]:
                return ranked(matching)
            if self.asset_side is None:
                return listed(matching)
            if matching is self.matching:  # the whole set, run-side filters
                # Among the newest SPLIT_CANDIDATES hits of the asset's own conditions first. Exact when
                # RANK_CAP of them pass: every hit newer than the last of those is one of them (the
                # newest hits of a superset). Otherwise the plain query (one statement more).
                newest = self.asset_side.order_by("-id").values("pk")[:SPLIT_CANDIDATES]
                rows, held = ranked(matching.filter(IdInArray(newest)))
                if held >= RANK_CAP:
                    return rows, held
            return ranked(matching)

        def fetch(matching: QuerySet) -> tuple[tuple[list, int], int]:
            rows, held = choose(matching)
            return (rows, held), held

        rows, held = self._windowed(fetch, RANK_CAP, "id", whole=whole)
        if rows:  # ``held``: every candidate, the whole result when fewer than RANK_CAP
            self._saw_all(0, held, RANK_CAP)
        return rows

    def _ranked_slice_sqlite(self, start: int, stop: int) -> list:
        """SQLite: FTS5 ``bm25()`` in a correlated subquery re-reads the term's whole doclist
        for every candidate (~3 ms each at 1 M rows). Instead ONE query scores the candidates
        (the newest ``RANK_CAP`` hits, found in the recency windows) with a single FTS5 scan
        over their rowid range, then the page's rows are read by id."""
        match = " OR ".join(fts5_quote(text) for text, _ in self.terms)

        def fetch(matching: QuerySet) -> tuple[dict, int]:
            cand_sql, cand_params = matching.order_by("-id").values("pk")[:RANK_CAP].query.sql_with_params()
            sql = (
                f"WITH cand(pk) AS ({cand_sql}), "  # noqa: S608 - Django's own SQL, parameters kept apart
                f"scored(pk, score) AS (SELECT rowid, bm25({FTS_TABLE}) FROM {FTS_TABLE} "
                f"WHERE {FTS_TABLE} MATCH %s AND rowid >= (SELECT min(pk) FROM cand) AND rowid <= (SELECT max(pk) FROM cand)) "
                "SELECT cand.pk, scored.score FROM cand LEFT JOIN scored ON scored.pk = cand.pk"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [*cand_params, match])
                found = {pk: (0.0 if value is None else value) for pk, value in cursor.fetchall()}
            return found, len(found)

        score = self._windowed(fetch, RANK_CAP, "id")
        self._saw_all(0, len(score), RANK_CAP)
        order = sorted(score, key=lambda pk: (score[pk], -pk))  # bm25: lower is better
        page = order[start:stop]
        found = {a.pk: a for a in self.shape(self.matching.model.objects.filter(pk__in=page))}
        out = []
        for pk in page:
            if pk in found:
                found[pk].search_rank = -score[pk]
                out.append(found[pk])
        return out

    def first_rows(self):
        """For a keyset first page (``molexp_site.keyset.keyset_page(first=...)``): on SQLite, read
        through the recency windows (the FTS5 list of a common word is the cost there); None on
        PostgreSQL, whose walk of the order's index already stops after a page (and a cursor page
        costs the same queries as the first)."""
        if connection.vendor == "postgresql":
            return None
        return lambda n: self.rows(0, n)

    def read_ordered(self, ordered: QuerySet, start: int, stop: int) -> list:
        """Rows ``start``..``stop`` of ``ordered`` (``self.matching`` narrowed and ordered, e.g. a
        keyset page's seek), in the shape: ``_read`` in the queryset's own order."""
        return self._read(ordered, tuple(ordered.query.order_by), start, stop)

    def _read(self, matching: QuerySet, order: tuple[str, ...], start: int, stop: int) -> list:
        """Rows ``start``..``stop`` of ``matching`` in ``order``. On PostgreSQL the page's ids are
        chosen first, from the query's own tables only, and its rows read by primary key with the
        shape's joins (``IdInArray``): one statement, planned as two small join problems. Planned
        as one, the asset table's index paths times the row joins and the scope's semi-join cost
        the planner 5–20 ms a page for a read that takes 0.5 ms (``sort=newest``, ``kind:error_trace
        status:failed`` at 100 000 assets, issue 13), and the joins ran for the page's rows only anyway."""
        if connection.vendor != "postgresql":
            return list(self.shape(matching).order_by(*order)[start:stop])
        ids = matching.order_by(*order).values("pk")[start:stop]
        # _base_manager: the ids are the result already; the outer query only reads their rows
        return list(self.shape(self.matching.model._base_manager.filter(IdInArray(ids))).order_by(*order))

    def rows(self, start: int, stop: int) -> list:
        """Rows ``start``..``stop`` (exclusive) of the result in the chosen order."""
        if not self.ranked:
            order = SORTS[self.sort]
            by = {"relevance": "id", "newest": "created"}.get(self.sort)
            if by and stop <= WINDOW_MAX_ROWS:
                # a window held the first ``stop`` rows iff the slice came back full
                return self._windowed(
                    lambda m: (rows := self._read(m, order, start, stop), start + len(rows)), stop, by
                )
            return self._read(self.matching, order, start, stop)
        out = []
        if start < RANK_CAP:
            out = self._ranked_slice(start, min(stop, RANK_CAP))
            if len(out) < min(stop, RANK_CAP) - start:
                return out  # fewer candidates than the cap: nothing follows
        if stop > RANK_CAP:
            out += self._read(self.matching, ("-id",), max(start, RANK_CAP), stop)
        return out

    def page(self, number: int, page_size: int, *, with_count: bool = True) -> SearchPage:
        number = max(1, number)
        start = (number - 1) * page_size
        if start > MAX_OFFSET:
            raise PageTooDeep(f"Pages stop at {MAX_OFFSET} results; refine the query.")
        rows = self.rows(start, start + page_size + 1)
        if not self.ranked:  # (ranked: ``_ranked_slice`` noted it from its candidates)
            self._saw_all(start, len(rows), page_size + 1)
        has_next = len(rows) > page_size
        rows = self.finish(rows[:page_size])
        count, capped = self.count() if with_count else (0, False)
        return SearchPage(
            rows=rows,
            number=number,
            page_size=page_size,
            count=count,
            count_capped=capped,
            has_next=has_next,
            sort=self.sort,
            ranked=self.ranked,
        )

    def facets(self) -> dict[str, Any]:
        """Counts by kind, project and producing-run status over the newest ``FACET_CAP`` hits
        (by id), in one grouped query over that capped sample (no per-row lookups). On
        PostgreSQL the sample is taken in the recency windows ``FACET_WINDOWS`` (finer than a
        page's: a sample is 20× a page), so the rows visited follow the sample's size, not the
        number of hits. ``capped`` (the sample was cut at ``FACET_CAP``) is what the page and
        the API state."""
        project_table, run_table = (connection.ops.quote_name(m._meta.db_table) for m in (Project, Run))

        def fetch(matching: QuerySet) -> tuple[list, int]:
            sample = matching.order_by("-id").values("id", "kind", "project_id", "producer_run_id")[:FACET_CAP]
            sample_sql, params = sample.query.sql_with_params()
            sql = (
                "SELECT s.kind, s.project_id, p.name, p.slug, r.status, COUNT(*) "  # noqa: S608 - Django's own SQL
                f"FROM ({sample_sql}) s LEFT JOIN {project_table} p ON p.id = s.project_id "
                f"LEFT JOIN {run_table} r ON r.id = s.producer_run_id GROUP BY 1, 2, 3, 4, 5"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                groups = cursor.fetchall()
            return groups, sum(g[5] for g in groups)

        return facet_summary(self._windowed(fetch, FACET_CAP, "id", FACET_WINDOWS))


def facet_summary(groups: list[tuple]) -> dict[str, Any]:
    """The facets of grouped ``(kind, project id, name, slug, producing-run status, n)`` rows, largest first."""
    kinds: dict[str, int] = {}
    projects: dict[Any, dict[str, Any]] = {}
    statuses: dict[str, int] = {}
    total = 0
    for kind, project_id, name, slug, status, n in groups:
        total += n
        kinds[kind] = kinds.get(kind, 0) + n
        if project_id is not None:
            entry = projects.setdefault(project_id, {"id": project_id, "name": name, "slug": slug, "count": 0})
            entry["count"] += n
        if status:
            statuses[status] = statuses.get(status, 0) + n
    return {
        "kind": [{"value": k, "count": v} for k, v in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))],
        "project": sorted(projects.values(), key=lambda p: (-p["count"], p["name"] or "")),
        "status": [{"value": k, "count": v} for k, v in sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0]))],
        "sampled": total,
        "capped": total >= FACET_CAP,
    }


class PageTooDeep(Exception):
    pass
