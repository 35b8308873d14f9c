"""The audit log page of a workspace: ``/w/<ws>/audit/`` (SPEC §14), owners and staff.

Reads go through ``runs_app.audit_log.audit_event_list`` and ``AuditEventFilterSet`` (the
same as ``GET /api/audit/``); newest first, keyset-paginated ("Older" follows a cursor).
The filter form does an htmx ``hx-get`` of this URL and gets the table fragment back;
without JavaScript it is a plain GET form.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from molexp_site.keyset import keyset_page

from ..access import workspace_get, workspace_require_role
from ..audit_log import AUDIT_ORDERING, audit_event_list
from ..choices import AuditAction, Role
from ..filtersets import AuditEventFilterSet

PAGE_SIZE = 50


@login_required
@require_GET
def workspace_audit(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    workspace_require_role(user=request.user, workspace=workspace, role=Role.OWNER)
    qs = audit_event_list(user=request.user).filter(workspace=workspace)
    filterset = AuditEventFilterSet(request.GET, queryset=qs)
    errors: list[str] = []
    page = None
    if filterset.is_valid():
        try:
            page = keyset_page(filterset.qs, ordering=AUDIT_ORDERING, page_size=PAGE_SIZE,
                               cursor=request.GET.get("cursor") or None)  # fmt: skip
        except ValidationError as exc:
            errors = [m for messages in exc.message_dict.values() for m in messages]
    else:
        errors = [f"{name}: {m}" for name, messages in filterset.errors.items() for m in messages]
    context = {
        "workspace": workspace,
        "page": page,
        "errors": errors,
        "actions": AuditAction.choices,
        "selected": {k: request.GET.get(k, "") for k in ("action", "actor")},
    }
    template = "runs_app/partials/_audit_table.html" if request.htmx else "runs_app/workspace_audit.html"
    return render(request, template, context)
