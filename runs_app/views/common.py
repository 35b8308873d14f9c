"""Helpers the runs_app HTML views share: redirects that work for htmx, form errors, role checks,
durations and the keyset page of a run list.

Invariants: no view lives here, and nothing here reads or writes rows except ``run_page``
(two queries: the page's rows and the capped count).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

from molexp_site.keyset import KeysetPage, PageTooDeep, keyset_page, offset_page

from .. import selectors
from ..run_conditions import sort_apply

#: Rows of a run list page.
PAGE_SIZE = 25


def redirect_after_post(request: HttpRequest, url: str) -> HttpResponse:
    """POST-then-redirect that also works for htmx-boosted forms."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def form_add_errors(form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form (field errors where the field exists)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{value.total_seconds():.1f} s"


def run_page(request: HttpRequest, runs) -> tuple[KeysetPage, str | None]:
    """One keyset page of a run list (``?cursor=``, or ``?page=N`` for shallow pages) and an error.

    A bad cursor or too deep a page number gives the first page and a message (the view answers
    400), never a 500. Two queries: the rows and the capped count.
    """
    cursor = request.GET.get("cursor") or None
    raw = request.GET.get("page") or "1"
    number = int(raw) if raw.isdigit() and len(raw) <= 6 and int(raw) >= 1 else 1
    try:
        page = keyset_page(runs, ordering=selectors.RUN_LIST_ORDERING, page_size=PAGE_SIZE, cursor=cursor, page=number)
        return page, None
    except ValidationError as exc:
        error = " ".join(m for messages in exc.message_dict.values() for m in messages)
    except PageTooDeep as exc:
        error = str(exc)
    return keyset_page(runs, ordering=selectors.RUN_LIST_ORDERING, page_size=PAGE_SIZE), error


def run_filtered_page(request: HttpRequest, filterset) -> tuple[KeysetPage, str | None]:
    """The page of a ``RunFilterSet`` list (SPEC §15): its conditions, its ``sort`` and an error.

    A malformed condition or sort shows NO rows and the message (the view answers 400). Without
    ``sort`` the keyset page of ``run_page``; with it, numbered pages (``?page=N``) ordered by the
    column, NULLs last. Two queries either way.
    """
    if filterset.is_bound and not filterset.is_valid():
        error = " ".join(
            (f"{name}: " if name != "__all__" else "") + " ".join(errors) for name, errors in filterset.errors.items()
        )
        return keyset_page(filterset.queryset.none(), ordering=selectors.RUN_LIST_ORDERING, page_size=PAGE_SIZE), error
    sort = filterset.form.cleaned_data.get("sort") if filterset.is_bound else None
    if sort is None:
        return run_page(request, filterset.qs)
    ordered = sort_apply(filterset.qs, sort)
    raw = request.GET.get("page") or "1"
    number = int(raw) if raw.isdigit() and len(raw) <= 6 and int(raw) >= 1 else 1
    try:
        return offset_page(ordered, page_size=PAGE_SIZE, page=number), None
    except PageTooDeep as exc:
        return offset_page(ordered, page_size=PAGE_SIZE, page=1), str(exc)


def with_durations(runs) -> list:
    rows = list(runs)
    for row in rows:
        row.duration_display = format_duration(row.duration)
    return rows
