"""Executing a catalog search with bounded cost (MEASURED.md: never rank every hit, no exact
COUNT over huge sets, no deep OFFSET).

- Counting: ``COUNT(*)`` over at most ``COUNT_CAP + 1`` matching ids; above the cap the
  result says ``count_capped`` ("1000+").
- Relevance: only the newest ``RANK_CAP`` matching rows are ranked (``ts_rank`` /
  FTS5 ``bm25``); results after them follow in recency order. Without free words
  relevance is recency.
- Paging: page numbers, offsets at most ``MAX_OFFSET`` (deeper: refine the query).
- Facets: kind × project × producing-run status counted in ONE grouped query over
  the newest ``FACET_CAP`` matching rows (``facets_capped`` when cut).
- Recency windows (newest-first orders: relevance candidates, unranked relevance,
  ``sort=newest``): the first page is looked for among the newest ``WINDOWS[0]`` ids, then
  the newest ``WINDOWS[1]``, then everywhere older. Each window is one query the planner
  can answer from a bitmap AND of the text GIN and a BRIN range (migration 0007), so a
  mid-frequency word visits the heap only for its hits among recent rows instead of for
  every hit (bitmap then sort) or for every recent row (index walk then filter). A frequent
  word still walks the id / ``(created_at, id)`` index and stops after a page; a rare one
  falls through to the GIN. The windows partition the rows (``>=`` bound, then ``<`` the
  previous bound), so the concatenated result is exactly the unwindowed order; the window
  anchors (one primary-key lookup per search, plus one per window for ``newest``) are
  performance hints only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet

from .compiler import compile_query
from .expressions import text_rank
from .parser import Node, positive_terms

COUNT_CAP = 1000
RANK_CAP = 200
FACET_CAP = 5000
MAX_OFFSET = 10_000
WINDOWS = (65_536, 524_288)  # newest ids searched first (then everything older)
WINDOW_MAX_ROWS = 1_000  # rows wanted above which windows are not worth it (deep pages)
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


class AssetSearch:
    """A compiled search over an already user-scoped, column-filtered queryset."""

    def __init__(self, base: QuerySet, node: Node | None, *, sort: str = "relevance", shape=None) -> None:
        """``shape(qs)`` adds ``select_related``/``only`` to the ranked page's id lookup."""
        self.node = node
        self.shape = shape or (lambda qs: qs)
        self.sort = sort if sort in SORTS else "relevance"
        self.matching = base.filter(compile_query(node))
        self.terms = [(t.text.strip(), t.phrase) for t in positive_terms(node)]
        self._bounds: dict = {}  # "top" (largest id) and the window bounds by order

    def _window_bounds(self, by: str) -> tuple:
        if by not in self._bounds:
            model = self.matching.model
            if "top" not in self._bounds:
                self._bounds["top"] = model.objects.order_by("-id").values_list("id", flat=True).first() or 0
            self._bounds[by] = _anchors(model, by, self._bounds["top"])
        return self._bounds[by]

    @property
    def ranked(self) -> bool:
        return self.sort == "relevance" and bool(self.terms)

    def _window_ids(self, ordered: QuerySet, limit: int, by: str) -> list[int] | None:
        """The first ``limit`` ids of ``ordered`` (newest first by ``by``: "id" or "created")
        fetched window by window; None when the table is too small for windows to help."""
        bounds = self._window_bounds(by)
        if not bounds:
            return None
        column = "id" if by == "id" else "created_at"
        ids: list[int] = []
        previous = None
        for i, bound in enumerate((*bounds, None)):
            part = ordered
            if bound is not None:
                part = part.filter(**{f"{column}__gte": bound})
            if previous is not None:
                part = part.filter(**{f"{column}__lt": previous})
            got = list(part.values_list("pk", flat=True)[: limit - len(ids)])
            ids += got
            if len(ids) >= limit or bound is None:
                break
            previous = bound
            if i + 1 < len(bounds) and len(got) * (WINDOWS[i + 1] // WINDOWS[i]) < limit - len(ids):
                # too few hits for the next window to fill the page: go straight to the rest
                return ids + list(
                    ordered.filter(**{f"{column}__lt": bound}).values_list("pk", flat=True)[: limit - len(ids)]
                )
        return ids

    def _rows_by_ids(self, ids: list[int]) -> list:
        found = {a.pk: a for a in self.shape(self.matching.model.objects.filter(pk__in=ids))}
        return [found[pk] for pk in ids if pk in found]

    def count(self) -> tuple[int, bool]:
        n = self.matching.order_by().values("pk")[: COUNT_CAP + 1].count()
        return min(n, COUNT_CAP), n > COUNT_CAP

    def _ordered(self) -> QuerySet:
        return self.matching.order_by(*SORTS[self.sort])

    def _ranked_slice(self, start: int, stop: int) -> list:
        candidates = self._window_ids(self.matching.order_by("-id"), RANK_CAP, "id")
        if candidates is None:
            candidates = self.matching.order_by("-id").values("pk")[:RANK_CAP]
        rank = text_rank(self.terms, vendor=connection.vendor)
        # Rank by id only (the candidates already satisfy the query): never re-run the match.
        qs = (
            self.shape(self.matching.model.objects.filter(pk__in=candidates))
            .annotate(search_rank=rank)
            .order_by("-search_rank", "-id")
        )
        return list(qs[start:stop])

    def rows(self, start: int, stop: int) -> list:
        """Rows ``start``..``stop`` (exclusive) of the result in the chosen order."""
        if not self.ranked:
            by = {"relevance": "id", "newest": "created"}.get(self.sort)
            if by and stop <= WINDOW_MAX_ROWS:
                ids = self._window_ids(self._ordered(), stop, by)
                if ids is not None:
                    return self._rows_by_ids(ids[start:stop])
            return list(self._ordered()[start:stop])
        out = []
        if start < RANK_CAP:
            out = self._ranked_slice(start, min(stop, RANK_CAP))
            if len(out) < min(stop, RANK_CAP) - start:
                return out  # fewer candidates than the cap: nothing follows
        if stop > RANK_CAP:
            out += list(self.matching.order_by("-id")[max(start, RANK_CAP) : stop])
        return out

    def page(self, number: int, page_size: int, *, with_count: bool = True) -> SearchPage:
        number = max(1, number)
        start = (number - 1) * page_size
        if start > MAX_OFFSET:
            raise PageTooDeep(f"Pages stop at {MAX_OFFSET} results; refine the query.")
        rows = self.rows(start, start + page_size + 1)
        has_next = len(rows) > page_size
        rows = rows[:page_size]
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
        """Counts by kind, project and producing-run status (one grouped query, capped sample)."""
        sample = self.matching.order_by("-id").values("pk")[:FACET_CAP]
        groups = (
            self.matching.model.objects.filter(pk__in=sample)
            .values("kind", "project_id", "project__name", "project__slug", "producer_run__status")
            .annotate(n=Count("id"))
            .order_by()
        )
        kinds: dict[str, int] = {}
        projects: dict[Any, dict[str, Any]] = {}
        statuses: dict[str, int] = {}
        total = 0
        for g in groups:
            n = g["n"]
            total += n
            kinds[g["kind"]] = kinds.get(g["kind"], 0) + n
            if g["project_id"] is not None:
                entry = projects.setdefault(
                    g["project_id"],
                    {"id": g["project_id"], "name": g["project__name"], "slug": g["project__slug"], "count": 0},
                )
                entry["count"] += n
            if g["producer_run__status"]:
                statuses[g["producer_run__status"]] = statuses.get(g["producer_run__status"], 0) + n
        return {
            "kind": [{"value": k, "count": v} for k, v in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))],
            "project": sorted(projects.values(), key=lambda p: (-p["count"], p["name"] or "")),
            "status": [{"value": k, "count": v} for k, v in sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0]))],
            "sampled": total,
            "capped": total >= FACET_CAP,
        }


class PageTooDeep(Exception):
    pass


def _anchors(model, by: str, top: int) -> tuple:
    """Lower bounds of the recency windows below the largest id ``top``, newest first: ids (``by="id"``) or the
    ``created_at`` of the row at each id bound (``by="created"``; skipped when not older than
    the previous bound). Empty for a table smaller than the first window. An anchor is only a
    performance hint: windows are filters that partition the rows, so a stale or odd anchor
    makes a window wider or narrower, never a result different."""
    bounds: list = []
    for width in WINDOWS:
        if top <= width:
            break
        if by == "id":
            bounds.append(top - width + 1)
            continue
        moment = (
            model.objects.filter(id__gte=top - width + 1).order_by("id").values_list("created_at", flat=True).first()
        )
        if moment is not None and (not bounds or moment < bounds[-1]):
            bounds.append(moment)
    return tuple(bounds)
