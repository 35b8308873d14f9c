"""Reads of the asset catalog, scoped to what a user may see.

Invariants: every selector filters on ``workspace_id`` through
``runs_app.access.scope_to_user`` (the asset's workspace key is always set,
so one filter covers every scope); an invisible asset is ``Http404``; list
selectors return rows shaped for a list page in one query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from django.db.models import F, QuerySet
from django.db.models.query import ValuesIterable
from django.http import Http404

from runs_app.access import scope_to_user
from runs_app.models import Run, TaskExecution

from . import storage
from .choices import AssetKind  # re-exported: runs_app reads asset kinds through selectors
from .models import Asset, AssetAlias, AssetUse
from .usage import storage_usage_get, workspace_physical_bytes  # noqa: F401 - storage use (SPEC §14), for runs_app

ASSET_LIST_FIELDS = (
    "id", "kind", "name", "version", "scope", "workspace_id", "project_id", "experiment_id", "run_id",
    "size", "sha256", "media_type", "tags", "created_at", "producer_run_id", "producer_task", "fingerprint",
    "workspace__name", "workspace__slug", "project__name", "project__slug", "experiment__name", "experiment__slug",
    "run__number", "producer_run__number", "producer_run__experiment__name", "producer_run__experiment__slug",
    "producer_run__experiment__project__slug", "producer_run__experiment__workspace__slug",
)  # fmt: skip
#: The joins ``ASSET_LIST_FIELDS`` reads: a row names its producing run "<experiment> #N" (SPEC §15).
ASSET_LIST_RELATED = (
    "workspace", "project", "experiment", "run",
    "producer_run__experiment__project", "producer_run__experiment__workspace",
)  # fmt: skip


def asset_list(*, user, filters: dict[str, Any] | None = None) -> QuerySet[Asset]:
    """Assets the user may read, newest first (one query per page)."""
    qs = scope_to_user(Asset.objects.all(), user=user)
    filters = filters or {}
    # Column filters are applied by assets_app.filtersets.AssetFilterSet; these are the
    # keys that commands and services pass directly.
    for key in ("workspace", "project", "experiment", "run"):
        if filters.get(key) not in (None, ""):
            qs = qs.filter(**{f"{key}_id": filters[key]})
    for key in ("kind", "name", "sha256", "scope"):
        if filters.get(key) not in (None, ""):
            qs = qs.filter(**{key: filters[key]})
    if filters.get("producer_run") not in (None, ""):
        qs = qs.filter(producer_run_id=filters["producer_run"])
    return qs.select_related(*ASSET_LIST_RELATED).only(*ASSET_LIST_FIELDS).order_by("-id")


def asset_get(*, user, pk: Any) -> Asset:
    qs = scope_to_user(
        Asset.objects.select_related(
            "workspace", "project", "experiment", "run__experiment", "producer_run__experiment", "producer_execution"
        ),
        user=user,
    )
    try:
        return qs.get(pk=pk).as_kind()
    except (Asset.DoesNotExist, ValueError, TypeError):
        raise Http404("No such asset.") from None


#: Versions of one asset name and scope listed at most, newest first (the asset page and the lineage API).
ASSET_VERSION_LIST_MAX = 200


def asset_version_list(*, user, asset: Asset, limit: int = ASSET_VERSION_LIST_MAX) -> tuple[list[Asset], bool]:
    """The versions of ``asset``'s name, kind and scope the user may read, newest first, and whether more exist.

    At most ``limit`` rows (``asset_list`` shape); the flag is True when older versions were
    left out. One query (``limit + 1`` rows). The asset page and ``/api/assets/{id}/lineage/``
    both list versions through here, so they cannot drift.
    """
    versions = list(
        asset_list(
            user=user,
            filters={
                "workspace": asset.workspace_id,
                "project": asset.project_id,
                "experiment": asset.experiment_id,
                "run": asset.run_id,
                "scope": asset.scope,
                "kind": asset.kind,
                "name": asset.name,
            },
        ).order_by("-version")[: limit + 1]
    )
    return versions[:limit], len(versions) > limit


def asset_alias_list(*, asset: Asset) -> list[dict]:
    """The aliases of ``asset``'s name in its scope, each with the version it points at; one query."""
    return list(
        AssetAlias.objects.filter(
            scope_key=asset.scope_key, kind=asset.kind, name=asset.name, asset__trash__isnull=True
        )
        .order_by("alias")
        .values("alias", "asset_id", "asset__version")
    )


def asset_use_list(*, asset: Asset) -> QuerySet[AssetUse]:
    """Every run that used this asset version, newest first."""
    return AssetUse.objects.filter(asset=asset, run__trash__isnull=True).select_related(
        "run__experiment", "run__project", "run__workspace", "execution"
    )


# --- added for the run page fragments and the asset preview ---------------------------

#: Bytes of a text, JSON or CSV asset the asset page shows at most.
PREVIEW_MAX_BYTES = 64 * 1024
#: Rows of a CSV asset the preview shows as a table at most.
PREVIEW_MAX_CSV_ROWS = 100
_TEXT_TYPES = ("application/json", "application/x-yaml", "application/yaml", "application/xml", "application/csv")
_TEXT_SUFFIXES = (".txt", ".json", ".csv", ".tsv", ".log", ".yaml", ".yml", ".md", ".py", ".xyz", ".smi", ".sdf")


def asset_use_list_for_run(*, run) -> QuerySet[AssetUse]:
    """The asset versions a run resolved (its inputs), oldest first, with the asset; one query.

    The caller has already checked that the user may read ``run`` (its assets share its workspace).
    """
    return (
        AssetUse.objects.filter(run_id=run.pk, asset__trash__isnull=True)
        .select_related("asset", "execution")
        .only(
            "id", "task_name", "created_at", "execution__number", "asset__id", "asset__name", "asset__version",
            "asset__kind", "asset__sha256", "asset__size",
        )
        .order_by("id")
    )  # fmt: skip


def log_list_for_run(*, run) -> QuerySet[Asset]:
    """The log assets of a run, newest attempt first, then by name (``attempt`` is the producing
    execution's number, None for a log written outside one); one query."""
    return (
        Asset.objects.filter(run_id=run.pk, kind="log")
        .annotate(attempt=F("producer_execution__number"))
        .only("id", "name", "version", "line_count", "file", "kind", "size", "producer_task", "created_at")
        .order_by(F("producer_execution__number").desc(nulls_last=True), "name", "-version")
    )


def log_active_task(*, run) -> str:
    """The task of the run's newest attempt that started last and has not finished ("" if none); one query."""
    row = (
        TaskExecution.objects.filter(execution__run_id=run.pk, started_at__isnull=False, finished_at__isnull=True)
        .order_by("-execution__number", "-started_at")
        .values_list("task_name", flat=True)
        .first()
    )
    return row or ""


def asset_preview(*, asset: Asset, max_bytes: int = PREVIEW_MAX_BYTES) -> dict[str, Any] | None:
    """A capped, plain-text preview of a text, JSON or CSV asset, or None for other content.

    Reads at most ``max_bytes`` (+1 to know whether it was cut) from storage. Returns
    ``{"format": "json" | "csv" | "text", "text": str, "rows": list[list[str]] | None,
    "truncated": bool, "max_bytes": int}``. The text is returned as is; templates escape it
    (a preview is never rendered as HTML).
    """
    import csv
    import io
    import json

    media = (asset.media_type or "").split(";")[0].strip().lower()
    name = asset.name.lower()
    is_text = media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+json")
    if not is_text and not name.endswith(_TEXT_SUFFIXES):
        return None
    if not asset.file:
        return None
    try:
        with asset.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError:
        return None
    truncated = len(data) > max_bytes
    data = data[:max_bytes]
    text = data.decode("utf-8", errors="replace")
    if truncated:
        text = text.rsplit("\n", 1)[0] if "\n" in text else text  # never end on half a line
    fmt, rows = "text", None
    if media == "application/json" or media.endswith("+json") or name.endswith(".json"):
        fmt = "json"
        if not truncated:
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                fmt = "text"
    elif media in ("text/csv", "application/csv", "text/tab-separated-values") or name.endswith((".csv", ".tsv")):
        fmt = "csv"
        delimiter = "\t" if (media == "text/tab-separated-values" or name.endswith(".tsv")) else ","
        rows = []
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            rows.append(row)
            if len(rows) > PREVIEW_MAX_CSV_ROWS:
                break
    return {"format": fmt, "text": text, "rows": rows, "truncated": truncated, "max_bytes": max_bytes}


# --- catalog search (SPEC §8) -------------------------------------------------------------


def _catalog_base(*, user, filters: Any, strict: bool) -> QuerySet[Asset]:
    """The user's assets (scoped FIRST) narrowed by the shared AssetFilterSet's column filters.

    ``strict``: an invalid column filter is a ``ValidationError`` (the API's 400); otherwise
    invalid filters are ignored (the HTML page keeps showing results).
    """
    from django.core.exceptions import ValidationError

    from .filtersets import AssetFilterSet

    # scoped only: ``asset_search`` gives the rows their shape (``asset_list``'s joins and columns
    # would be cloned through every filter and then dropped)
    scoped = scope_to_user(Asset.objects.all(), user=user)
    if not filters or not any(name in filters for name in AssetFilterSet.base_filters):
        # no column filter named (``q``, ``sort``, ``page``… only): the FilterSet would deep-copy its
        # ten filters and validate an empty form, ~1 ms of CPU a search, to filter nothing
        return scoped
    filterset = AssetFilterSet(filters, queryset=scoped)
    if strict and filters and not filterset.is_valid():
        raise ValidationError({k: [str(e) for e in v] for k, v in filterset.errors.items()})
    return filterset.qs


#: A catalog row's own columns (``ASSET_LIST_FIELDS`` without the joined ones); the names of its
#: workspace, project, experiment and run are read as values (``ASSET_PAGE_VALUES``,
#: ``ASSET_API_VALUES``), not as joined models: one model instance per row instead of four.
#: ``select_related`` built a Workspace, Project and Experiment for each of a page's 51 rows (~200
#: instances, ~2.5 ms of Python a search); the values take the same joins. A producing run other
#: than the row's own is named by ``_name_runs`` (one query when there is one). Past 8 joined tables
#: PostgreSQL plans in written order and spends 6–13 ms planning each page query (1 M assets): 4 here.
ASSET_ROW_FIELDS = tuple(f for f in ASSET_LIST_FIELDS if "__" not in f)
#: The catalog page's row values (``row.workspace_name`` …, ``row.run_number``: None for wider scopes).
ASSET_PAGE_VALUES = {
    "workspace_name": F("workspace__name"), "workspace_slug": F("workspace__slug"),
    "project_name": F("project__name"), "project_slug": F("project__slug"),
    "experiment_name": F("experiment__name"), "experiment_slug": F("experiment__slug"),
    "run_number": F("run__number"),
}  # fmt: skip
#: The API's catalog row (``assets_app.api.serializers.LIST_FIELDS``): the names of the workspace,
#: project and experiment, the other references as ids (no producing-run label).
ASSET_API_VALUES = {k: ASSET_PAGE_VALUES[k] for k in ("workspace_name", "project_name", "experiment_name")}


@dataclass(frozen=True, slots=True)
class RunName:
    """How a catalog row names a run: "<experiment> #N", linked to the run's page (the URL
    arguments of ``runs:run-detail``)."""

    number: int
    experiment_name: str
    workspace_slug: str
    project_slug: str
    experiment_slug: str


def _name_runs(rows: list[Asset]) -> list[Asset]:
    """Set each row's ``producer``: the ``RunName`` of its producing run (None when it has none).

    A row its own run produced (a run-scoped asset: ``producer_run_id == run_id``; the row's
    experiment, project and workspace are that run's) is named from what the row query already
    read (``ASSET_PAGE_VALUES``): no query. The other rows' producing runs are read
    as values in one query (none when there are none)."""
    others: dict[int, list[Asset]] = {}
    for row in rows:
        row.producer = None
        if row.producer_run_id is None:
            continue
        if row.producer_run_id == row.run_id:
            row.producer = RunName(
                row.run_number, row.experiment_name, row.workspace_slug, row.project_slug, row.experiment_slug
            )
        else:
            others.setdefault(row.producer_run_id, []).append(row)
    if others:
        # all_objects: a run in the trash still names the rows it produced
        names = Run.all_objects.filter(id__in=list(others)).values_list(
            "id", "number", "experiment__name", "experiment__workspace__slug", "experiment__project__slug",
            "experiment__slug",
        )  # fmt: skip
        for run_id, *name in names:
            for row in others[run_id]:
                row.producer = RunName(*name)
    return rows


class CatalogRow:
    """An API catalog row: the values a search read, as attributes (``pk`` is ``id``), without a model
    instance. Building an ``Asset`` per row (its ``__init__`` over every field, the columns not read
    marked deferred) cost ~0.7 ms of a 51-row page's CPU on the bench machine (issue 17); the API row
    (``assets_app.api.serializers._AssetRows``) only reads the values."""

    @property
    def pk(self) -> int:
        return self.id


class CatalogRowIterable(ValuesIterable):
    """``QuerySet.values()`` rows as ``CatalogRow`` objects (the annotations a search adds included)."""

    def __iter__(self):
        for values in super().__iter__():
            row = CatalogRow()
            row.__dict__ = values
            yield row


def _api_rows(qs: QuerySet[Asset]) -> QuerySet[Asset]:
    qs = qs.values(*ASSET_ROW_FIELDS, *ASSET_API_VALUES)
    qs._iterable_class = CatalogRowIterable  # the values query, each row read into a CatalogRow
    return qs


#: Row shapes of a catalog search (columns: ``ASSET_ROW_FIELDS``): the values read with each row, what
#: completes the chosen page's rows, and how the rows are read (None: ``Asset`` instances).
ROW_SHAPES = {
    "page": (ASSET_PAGE_VALUES, _name_runs, None),
    "api": (ASSET_API_VALUES, None, _api_rows),
}


def asset_search(
    *, user, q: str | None = "", filters: Any = None, sort: str = "relevance", strict: bool = True, rows: str = "page"
):
    """The catalog search: parse ``q`` (``QueryError`` if malformed), scope to the user, apply the
    column filters and the query. Returns an ``assets_app.search.AssetSearch`` whose ``page()``
    and ``facets()`` cost a constant number of bounded queries. ``rows``: the shape of the result
    rows, "page" (the catalog page's: names the run and the producing run, ``_name_runs``) or
    "api" (the API row)."""
    from .search import AssetSearch, parse

    values, finish, read = ROW_SHAPES[rows]

    def select(qs: QuerySet[Asset]) -> QuerySet[Asset]:
        return qs.select_related(None).only(*ASSET_ROW_FIELDS)

    def shape(qs: QuerySet[Asset]) -> QuerySet[Asset]:
        # the values' joins only where rows are read: an annotation's join would stay in every
        # query built on the base (ids, counts, facets)
        shaped = select(qs).annotate(**values)
        return read(shaped) if read else shaped

    node = parse(q or "")
    base = select(_catalog_base(user=user, filters=filters, strict=strict))
    return AssetSearch(base, node, sort=sort, shape=shape, finish=finish)


def asset_search_page(*, search, page_size: int, page: int = 1, cursor: str | None = None):
    """One page of a catalog search (``asset_search``), bounded whatever the depth.

    Unranked results (browsing without free words, or any sort but relevance) are keyset pages
    (``molexp_site.keyset.KeysetPage``) in the sort's order: ``cursor`` seeks, ``page`` > 1 is a
    shallow OFFSET (``molexp_site.keyset.PageTooDeep`` past ``MAX_OFFSET`` or the end). Ranked
    results keep the engine's page numbers (only the newest ``RANK_CAP`` hits are ranked; offsets
    stop at the engine's ``MAX_OFFSET``) and refuse a cursor. The count is the engine's capped one.
    Two queries (rows, count); on PostgreSQL the rows are read like the search pages' (``AssetSearch.read_ordered``:
    the page's ids first, then the rows with the shape's joins). Raises ``ValidationError`` for a bad cursor.
    """
    from django.core.exceptions import ValidationError

    from molexp_site.keyset import keyset_page

    from .search import SORTS

    if search.ranked:
        if cursor:
            raise ValidationError({"cursor": "Results ranked by relevance are paged by number, not by cursor."})
        return search.page(page, page_size)
    result = keyset_page(
        search.matching,
        ordering=SORTS[search.sort],
        page_size=page_size,
        cursor=cursor,
        page=page,
        count=search.count,
        first=search.first_rows(),
        read=search.read_ordered,  # the shape's joins for the page's rows only (``AssetSearch._read``)
    )
    result.rows = search.finish(result.rows)
    result.sort = search.sort
    return result


def trace_group_list(*, user, filters: Any = None, q: str | None = "") -> QuerySet:
    """Error-trace groups by fingerprint over the user's traces (``workspace``/``project``/
    ``experiment``/``run`` filters and an optional catalog query ``q``), most recently seen first.

    Returns a grouped values queryset; pass a page of it to ``trace_group_detail_list``.
    """
    from .search import AssetSearch, parse
    from .search.traces import trace_groups

    base = _catalog_base(user=user, filters=filters, strict=True)
    return trace_groups(AssetSearch(base, parse(q or "")).matching)


def trace_group_detail_list(
    *, user, groups: list[dict[str, Any]], filters: Any = None, q: str | None = ""
) -> list[dict[str, Any]]:
    """Add the sample message and the latest runs (capped) to one page of groups; two queries."""
    from .search import AssetSearch, parse
    from .search.traces import trace_group_details

    base = _catalog_base(user=user, filters=filters, strict=False)
    return trace_group_details(list(groups), scoped=AssetSearch(base, parse(q or "")).matching)


# --- run comparison and workspace activity (runs_app pages call these) ----------------------


def asset_use_versions_for_runs(*, run_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The asset versions each run in ``run_ids`` resolved, run id → inputs by name; one query.

    Each input is ``{"asset_id", "name", "kind", "version", "sha256", "size"}``, once per asset
    version even if several tasks used it. The caller has already checked that the user may
    read every run (a run's inputs share its workspace).
    """
    found: dict[int, list[dict[str, Any]]] = {pk: [] for pk in run_ids}
    if not run_ids:
        return found
    rows = (
        AssetUse.objects.filter(run_id__in=run_ids, asset__trash__isnull=True)
        .values_list(
            "run_id", "asset_id", "asset__name", "asset__kind", "asset__version", "asset__sha256", "asset__size"
        )
        .order_by("run_id", "asset__name", "asset__version", "asset_id")
        .distinct()
    )
    for run_id, asset_id, name, kind, version, sha256, size in rows:
        found.setdefault(run_id, []).append(
            {"asset_id": asset_id, "name": name, "kind": kind, "version": version, "sha256": sha256, "size": size}
        )
    return found


def asset_kind_choices() -> list[tuple[str, str]]:
    """The asset kinds as ``(value, label)`` pairs, for filters outside assets_app."""
    return list(AssetKind.choices)


def asset_activity_list(
    *,
    workspace_id: int,
    project_id: int | None = None,
    kind: str | None = None,
    before: tuple[Any, int] | None = None,
    limit: int = 50,
) -> list[Asset]:
    """Assets added to one workspace, newest first (``created_at``, then ``id``), at most ``limit``; one query.

    ``before = (created_at, id)`` keeps only rows strictly before that point in this order
    (keyset pagination). The caller has already checked that the user may read the workspace.
    """
    from django.db.models import Q

    qs = Asset.objects.filter(workspace_id=workspace_id)
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    if kind:
        qs = qs.filter(kind=kind)
    if before is not None:
        created_at, pk = before
        qs = qs.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=pk))
    return list(
        qs.select_related("project", "created_by", "producer_run__experiment")
        .only(
            "id", "kind", "name", "version", "scope", "size", "sha256", "created_at", "workspace_id",
            "project_id", "project__name", "project__slug", "created_by_id", "created_by__username",
            "producer_run_id", "producer_run__number", "producer_run__experiment__name", "producer_task",
        )
        .order_by("-created_at", "-id")[:limit]
    )  # fmt: skip


# --- whole rows of one run's assets, and the code store (runs_app's RO-Crate export and import) -----


def asset_list_for_run(*, run) -> list[Asset]:
    """Every asset a run produced (whole rows as their kind's class), oldest first; one query.

    The caller has already checked that the user may read ``run``.
    """
    return [a.as_kind() for a in Asset.objects.filter(run=run).order_by("id")]


def asset_use_rows_for_run(*, run) -> QuerySet[AssetUse]:
    """The asset versions a run resolved as whole rows (with the whole asset), oldest first; one query.

    Unlike :func:`asset_use_list_for_run` (shaped for a page), nothing is deferred.
    The caller has already checked that the user may read ``run``.
    """
    return AssetUse.objects.filter(run=run).select_related("asset").order_by("id")


def code_blob_exists(*, sha256: str) -> bool:
    """Whether the content-addressed code store (snapshot bundle files, SPEC §12) holds ``sha256``."""
    return storage.exists(storage.code_blob_name(sha256))


def code_blob_open(*, sha256: str) -> IO[bytes]:
    """A binary reader of a code-store file (raises ``FileNotFoundError`` when absent)."""
    return storage.open_read(storage.code_blob_name(sha256))
