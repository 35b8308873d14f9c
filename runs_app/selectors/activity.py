"""The workspace activity feed: run status events and asset additions, newest first.

Invariants:
- Any member of the workspace may read it (``Http404`` for others); three queries a page.
- Keyset-paginated on ``(created_at, source, id)`` with the shared cursor codec of
  ``molexp_site.keyset``; a bad cursor is a ``ValidationError`` keyed ``cursor`` (400).
- Input parsing (the filters) lives in ``runs_app.forms.activity_filters_clean``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from assets_app.selectors import asset_activity_list
from molexp_site import keyset

from ..access import User, workspace_require_role
from ..choices import EventSubject, Role
from ..models import RunEvent, Workspace

#: Entries per page of the activity feed.
ACTIVITY_PAGE_SIZE = 50

#: Tie-break between sources at the same ``created_at``: run events sort before assets (newest first).
_ACTIVITY_RANK = {"run": 1, "asset": 0}

#: A bound above every id, so ``(created_at, id < bound)`` keeps every row at that time.
_ID_MAX = 2**63 - 1

#: What activity cursors are positions in (``keyset.cursor_pack``'s ``ordering``).
_ACTIVITY_ORDERING = "activity:-created_at,-source,-id"


def activity_cursor_encode(*, created_at, source: str, pk: int) -> str:
    """An opaque keyset cursor for the entry ``(created_at, source, pk)`` (the shared codec)."""
    return keyset.cursor_pack(direction="n", ordering=_ACTIVITY_ORDERING, values=[created_at.isoformat(), source, pk])


def activity_cursor_decode(cursor: str) -> tuple[Any, str, int]:
    """The ``(created_at, source, pk)`` of a cursor; ``ValidationError`` keyed ``cursor`` if it is malformed."""
    _, (stamp, source, pk) = keyset.cursor_unpack(cursor, ordering=_ACTIVITY_ORDERING, length=3)
    try:
        created_at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        created_at = None
    valid_pk = isinstance(pk, int) and not isinstance(pk, bool) and 0 <= pk <= _ID_MAX
    if (
        created_at is None
        or timezone.is_naive(created_at)
        or not isinstance(source, str)
        or source not in _ACTIVITY_RANK
        or not valid_pk
    ):
        raise keyset.bad_cursor()
    return created_at, source, pk


def _activity_before(cursor: tuple[Any, str, int] | None, source: str) -> tuple[Any, int] | None:
    """The ``(created_at, id)`` bound of one source after ``cursor`` in (created_at, rank, id) order."""
    if cursor is None:
        return None
    created_at, cursor_source, pk = cursor
    rank, cursor_rank = _ACTIVITY_RANK[source], _ACTIVITY_RANK[cursor_source]
    if rank == cursor_rank:
        return created_at, pk
    # A source ranked below the cursor's keeps its rows at the same instant; one above does not.
    return (created_at, _ID_MAX) if rank < cursor_rank else (created_at, 0)


def workspace_activity(
    *,
    user: User,
    workspace: Workspace,
    filters: dict[str, Any] | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """One page of a workspace's activity: run status events and asset additions, newest first.

    ``filters`` come from ``forms.activity_filters_clean``. A filter that cannot apply to an entry
    excludes it: ``status`` keeps run events only, ``asset_kind`` assets only. Entries are
    ordered by ``(created_at, source, id)`` descending; ``cursor`` (from a previous page's
    ``next_cursor``) continues after that entry. Returns ``{"entries": [...], "next_cursor": str | None}``;
    each entry is ``{"source": "run" | "asset", "created_at", "cursor", "event" | "asset"}``.

    Any member may read (``Http404`` for others). Three queries (role, events, assets) whatever the page size.
    """
    workspace_require_role(user=user, workspace=workspace, role=Role.VIEWER)
    limit = limit or ACTIVITY_PAGE_SIZE
    filters = filters or {}
    position = activity_cursor_decode(cursor) if cursor else None
    want_runs = filters.get("kind") in (None, "runs") and not filters.get("asset_kind")
    want_assets = filters.get("kind") in (None, "assets") and not filters.get("status")

    entries: list[dict[str, Any]] = []
    if want_runs:
        events = RunEvent.objects.filter(
            run__workspace_id=workspace.pk, run__trash__isnull=True, subject=EventSubject.RUN
        )
        if filters.get("project") is not None:
            events = events.filter(run__project_id=filters["project"])
        if filters.get("status"):
            events = events.filter(to_status=filters["status"])
        before = _activity_before(position, "run")
        if before is not None:
            events = events.filter(Q(created_at__lt=before[0]) | Q(created_at=before[0], id__lt=before[1]))
        events = (
            events.select_related("run__experiment", "run__project", "run__workspace", "run__launched_by")
            .only(
                "id", "created_at", "from_status", "to_status", "message", "run_id", "run__number",
                "run__status", "run__experiment_id", "run__project_id", "run__workspace_id", "run__launched_by_id",
                "run__experiment__name", "run__experiment__slug", "run__project__name", "run__project__slug",
                "run__workspace__slug", "run__launched_by__username",
            )
            .order_by("-created_at", "-id")[: limit + 1]
        )  # fmt: skip
        entries += [{"source": "run", "created_at": e.created_at, "pk": e.pk, "event": e} for e in events]
    if want_assets:
        assets = asset_activity_list(
            workspace_id=workspace.pk,
            project_id=filters.get("project"),
            kind=filters.get("asset_kind"),
            before=_activity_before(position, "asset"),
            limit=limit + 1,  # one more than a page tells whether an older page exists
        )
        entries += [{"source": "asset", "created_at": a.created_at, "pk": a.pk, "asset": a} for a in assets]
    entries.sort(key=lambda e: (e["created_at"], _ACTIVITY_RANK[e["source"]], e["pk"]), reverse=True)
    page, more = entries[:limit], len(entries) > limit
    for entry in page:
        entry["cursor"] = activity_cursor_encode(created_at=entry["created_at"], source=entry["source"], pk=entry["pk"])
    return {"entries": page, "next_cursor": page[-1]["cursor"] if more and page else None}
