"""Thin HTML views of the asset catalog: scoped selectors, the shared FilterSet, fragments for htmx."""

from __future__ import annotations

import json
import re

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from molexp_site import keyset
from molexp_site.htmx import render_polled
from runs_app.access import role_at_least, run_get, workspace_role
from runs_app.choices import Role

from .choices import AssetKind
from .search import SORTS, PageTooDeep, QueryError
from .selectors import (
    asset_alias_list,
    asset_get,
    asset_preview,
    asset_search,
    asset_search_page,
    asset_use_list,
    asset_use_list_for_run,
    asset_version_list,
    log_active_task,
    log_list_for_run,
    trace_group_detail_list,
    trace_group_list,
)
from .services import AssetBytesUnavailable, asset_bytes_open, log_tail

PAGE_SIZE = 25
#: Lines and bytes of a log that a page tails at most.
LOG_TAIL_LINES = 200
LOG_TAIL_BYTES = 64 * 1024
#: Characters of a traceback file shown when the row holds none.
TRACEBACK_MAX_BYTES = 64 * 1024


#: Error-trace groups the catalog page shows beside results that include traces.
TRACE_GROUPS_ON_PAGE = 5
#: Column filters (AssetFilterSet) the page carries along as hidden fields.
CARRIED_FILTERS = (
    "kind",
    "scope",
    "workspace",
    "project",
    "experiment",
    "run",
    "producer_run",
    "name",
    "sha256",
    "tag",
)


def _facet_links(q: str, facets: dict) -> dict:
    """Each facet value with the query that adds it as a filter (``q`` + `` key:value``)."""

    def add(term: str) -> str:
        return f"{q.strip()} {term}".strip()

    return {
        "kind": [{**f, "q": add(f"kind:{f['value']}")} for f in facets["kind"]],
        "project": [{**f, "q": add(f"project:{f['id']}")} for f in facets["project"]],
        "status": [{**f, "q": add(f"status:{f['value']}")} for f in facets["status"]],
        "capped": facets["capped"],
        "sampled": facets["sampled"],
    }


def _producer_run(request: HttpRequest):
    """The run named by ``?producer_run=<id>`` if the user reads it, to name it "<experiment> #N"."""
    raw = request.GET.get("producer_run", "")
    if not raw.isdigit() or len(raw) > 18:
        return None
    try:
        return run_get(user=request.user, pk=int(raw))
    except Http404:
        return None


@login_required
@require_GET
def asset_list_view(request: HttpRequest) -> HttpResponse:
    """The catalog: one search box (the API's ``q`` syntax), facets, trace groups, sort, pages.

    A malformed query renders the message with the bad token highlighted (status 200 so htmx swaps
    it in). The full page and the htmx fragment cost the same constant number of queries.
    Browsing (unranked) pages by keyset cursor ("Newer"/"Older"); ranked results by number.
    """
    user = request.user
    q = request.GET.get("q", "")
    sort = request.GET.get("sort") or "relevance"
    raw_page = request.GET.get("page") or "1"
    number = max(1, int(raw_page)) if raw_page.isdigit() and len(raw_page) <= 6 else 1
    context = {
        "q": q,
        "sort": sort if sort in SORTS else "relevance",
        "sorts": list(SORTS),
        "filters": request.GET,
        "carried": [(k, request.GET[k]) for k in CARRIED_FILTERS if request.GET.get(k)],
        "page": None,
        "facets": None,
        "trace_groups": [],
        "error": None,
        "producer_run": _producer_run(request),
    }
    try:
        search = asset_search(user=user, q=q, filters=request.GET, sort=context["sort"], strict=False)
        context["page"] = asset_search_page(
            search=search, page=number, page_size=PAGE_SIZE, cursor=request.GET.get("cursor") or None
        )
        facets = search.facets()
        context["facets"] = _facet_links(q, facets)
        if any(f["value"] == AssetKind.ERROR_TRACE for f in facets["kind"]):
            groups = list(trace_group_list(user=user, filters=request.GET, q=q)[:TRACE_GROUPS_ON_PAGE])
            context["trace_groups"] = trace_group_detail_list(user=user, groups=groups, filters=request.GET, q=q)
    except QueryError as exc:
        pos = min(max(exc.position, 0), len(q))
        width = max(len(exc.token), 1)
        context["error"] = {
            "detail": exc.detail,
            "message": exc.message,
            "position": exc.position,
            "before": q[:pos],
            "token": q[pos : pos + width],
            "after": q[pos + width :],
        }
    except (PageTooDeep, keyset.PageTooDeep) as exc:
        context["error"] = {"detail": str(exc), "message": str(exc), "position": None}
    except ValidationError as exc:  # a bad cursor (strict filters are off here)
        context["error"] = {"detail": "; ".join(exc.messages), "message": "; ".join(exc.messages), "position": None}
    if request.htmx:
        # The page's controls target #catalog-results (results, facets, trace groups); any other
        # htmx caller gets the bare results table (#asset-table), as before the search existed.
        if request.htmx.target == "catalog-results" or context["error"]:
            return render(request, "assets_app/partials/_catalog_results.html", context)
        return render(request, "assets_app/partials/_asset_table.html", context)
    return render(request, "assets_app/asset_list.html", context)


@login_required
@require_GET
def asset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    asset = asset_get(user=user, pk=pk)
    versions, versions_truncated = asset_version_list(user=user, asset=asset)
    role = workspace_role(user=user, workspace=asset.workspace)
    return render(
        request,
        "assets_app/asset_detail.html",
        {
            "asset": asset,
            "metadata_json": json.dumps(asset.metadata, indent=2, sort_keys=True, default=str),
            "data_json": json.dumps(asset.data, indent=2, sort_keys=True, default=str)
            if asset.data is not None
            else "",
            "versions": versions,
            "versions_truncated": versions_truncated,
            "aliases": asset_alias_list(asset=asset),
            "can_edit": not asset.imported and role_at_least(role, Role.EDITOR),
            "can_delete": role_at_least(role, Role.OWNER),
            "uses": asset_use_list(asset=asset)[:100],
            "preview": asset_preview(asset=asset) if asset.kind not in (AssetKind.LOG, AssetKind.ERROR_TRACE) else None,
            "log_lines": log_tail(asset=asset, max_lines=LOG_TAIL_LINES, max_bytes=LOG_TAIL_BYTES)
            if asset.kind == AssetKind.LOG and asset.file
            else None,
            "log_tail_lines": LOG_TAIL_LINES,
        },
    )


#: Media types that a browser could execute or render as a page; always sent as opaque bytes.
_ACTIVE_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
)


@login_required
@require_GET
def asset_download(request: HttpRequest, pk: int) -> HttpResponse:
    """Stream an asset's file as an attachment, never rendered: ``nosniff`` and a sandboxing CSP.

    ``asset_get`` scopes the lookup (an invisible asset is 404); an asset without a file is 404.
    HTTP ``Range``: one ``bytes=`` range gives 206 with ``Content-Range`` (streamed in 1 MiB
    pieces), an unsatisfiable one 416; several ranges, a malformed header or an ``If-Range``
    that no longer matches give the whole file (200). The storage name comes from the row;
    the asset's name is only the attachment's file name.
    """
    return asset_file_response(request, asset_get(user=request.user, pk=pk))


def asset_file_response(request: HttpRequest, asset) -> HttpResponse:
    """The download response of a readable asset, shared by this page route and ``/api/assets/{id}/content/``.

    An asset whose content a retention policy removed answers 410 Gone (SPEC §14; the row stays).
    """
    if asset.retention_removed_at is not None:
        return HttpResponse(
            f"The content of this asset was removed by its workspace's retention policy on "
            f"{asset.retention_removed_at:%Y-%m-%d %H:%M} UTC; its record stays in the catalog.",
            status=410,
            content_type="text/plain; charset=utf-8",
        )
    try:
        handle = asset_bytes_open(asset=asset)
    except AssetBytesUnavailable as exc:
        raise Http404(str(exc)) from None
    size = handle.size
    media = (asset.media_type or "").split(";")[0].strip().lower()
    content_type = "application/octet-stream" if not media or media in _ACTIVE_TYPES else media
    # Security battery: the attachment name is the last part after "/" *or* "\\", so a name like
    # "..\\..\\win.ini" never reaches a client that splits paths on backslashes (Windows, wget).
    filename = re.split(r"[/\\]", asset.name)[-1] or f"asset-{asset.pk}"
    etag = f'"{asset.sha256}"' if asset.sha256 else None

    span = None  # (first, last) byte, inclusive; "unsatisfiable" → 416
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", request.headers.get("Range", ""))
    if_range = request.headers.get("If-Range")
    if match and (match[1] or match[2]) and (if_range is None or (etag is not None and if_range == etag)):
        if len(match[1]) > 19 or len(match[2]) > 19:
            # Past any 64-bit size (and past int()'s 4300-digit limit, which would be a 500).
            span = "unsatisfiable"
        elif not match[1]:  # suffix: the last N bytes
            n = int(match[2])
            span = (max(0, size - n), size - 1) if n and size else "unsatisfiable"
        else:
            first = int(match[1])
            last = min(int(match[2]), size - 1) if match[2] else size - 1
            if match[2] and int(match[2]) < first:
                span = None  # syntactically invalid: ignore the header
            elif first >= size:
                span = "unsatisfiable"
            else:
                span = (first, last)

    if span is None:
        response: HttpResponse = FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)
    elif span == "unsatisfiable":
        handle.close()
        response = HttpResponse(status=416, content_type="text/plain")
        response["Content-Range"] = f"bytes */{size}"
    else:
        first, last = span

        def stream(remaining: int = last - first + 1):
            try:
                handle.seek(first)
                while remaining > 0:
                    data = handle.read(min(1024 * 1024, remaining))
                    if not data:
                        return
                    remaining -= len(data)
                    yield data
            finally:
                handle.close()

        response = StreamingHttpResponse(stream(), status=206, content_type=content_type)
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    if etag:
        response["ETag"] = etag
    return response


# --- fragments of the run page (runs_app reaches assets only through these) -----------


@login_required
@require_GET
def run_inputs(request: HttpRequest, run_pk: int) -> HttpResponse:
    """The asset versions a run used (lineage from ``AssetUse``)."""
    run = run_get(user=request.user, pk=run_pk)
    return render(
        request, "assets_app/partials/_run_inputs.html", {"run": run, "uses": asset_use_list_for_run(run=run)}
    )


@login_required
@require_GET
def run_logs(request: HttpRequest, run_pk: int) -> HttpResponse:
    """The tail of one of the run's logs, by attempt; polls until the run ends.

    ``?log=<asset id>`` pins a log; without it the viewer follows the active task (the newest
    log of the task running now, else the newest log of the newest attempt). ``?q=`` keeps the
    lines of the tail that contain it (case-insensitive).
    """
    run = run_get(user=request.user, pk=run_pk)
    logs = list(log_list_for_run(run=run))
    wanted = request.GET.get("log", "")
    query = request.GET.get("q", "")[:200]
    selected = next((log for log in logs if str(log.pk) == wanted), None)
    # A finished run: the log of the task that failed, if one did (the error card links here).
    failed_task = (run.error or {}).get("task", "") if isinstance(run.error, dict) else ""
    active = failed_task if run.is_terminal else log_active_task(run=run)
    following = selected is None
    if selected is None and logs:
        newest = logs[0].attempt
        mine = [log for log in logs if log.attempt == newest]
        by_task = [log for log in mine if active and log.producer_task == active]
        selected = max(by_task or mine, key=lambda log: log.created_at)
    lines = log_tail(asset=selected, max_lines=LOG_TAIL_LINES, max_bytes=LOG_TAIL_BYTES) if selected else []
    total = len(lines)
    if query:
        needle = query.lower()
        lines = [line for line in lines if needle in line.lower()]
    attempts: dict = {}
    for log in logs:
        attempts.setdefault(log.attempt, []).append(log)
    return render_polled(
        request,
        "assets_app/partials/_run_logs.html",
        {
            "run": run,
            "logs": logs,
            "attempts": list(attempts.items()),
            "selected": selected,
            "following": following,
            "active_task": active,
            "lines": lines,
            "tail_total": total,
            "q": query,
            "max_lines": LOG_TAIL_LINES,
        },
        done=run.is_terminal,
    )


@login_required
@require_GET
def run_error(request: HttpRequest, run_pk: int) -> HttpResponse:
    """The run's error: exception type, message, failing task and the traceback of its error-trace asset."""
    run = run_get(user=request.user, pk=run_pk)
    error = run.error or {}
    trace, traceback_text = None, ""
    if error.get("traceback_asset"):
        try:
            trace = asset_get(user=request.user, pk=error["traceback_asset"])
        except Http404:
            trace = None
    if trace is not None:
        traceback_text = trace.traceback
        if not traceback_text and trace.file:
            try:
                with trace.open("rb") as fh:
                    traceback_text = fh.read(TRACEBACK_MAX_BYTES).decode("utf-8", errors="replace")
            except OSError:
                traceback_text = ""
    return render(
        request,
        "assets_app/partials/_run_error.html",
        {"run": run, "error": error, "trace": trace, "traceback": traceback_text},
    )
