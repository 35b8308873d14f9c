"""The dashboard, workspaces and their members: thin views over the selectors and services.

Invariants: an invisible workspace is ``Http404`` (selectors); changing members needs the owner
role, checked here before parsing (403) and again by the services.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from molexp_site.errors import Conflict

from .. import selectors, services
from ..access import role_at_least
from ..choices import Role
from ..forms import (
    MembershipRemoveForm,
    MembershipSetForm,
    WorkspaceCreateForm,
)
from ..models import Invitation
from .common import form_add_errors, redirect_after_post, with_durations


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    show_archived = request.GET.get("archived") == "1"
    context = {
        "show_archived": show_archived,
        "workspaces": selectors.workspace_list(user=user, archived=show_archived),
        **_dashboard_live_context(user),
    }
    return render(request, "runs_app/dashboard.html", context)


#: How often the dashboard's "running now" and "recent failures" refresh (htmx polling).
DASHBOARD_POLL_SECONDS = 5


def _dashboard_live_context(user) -> dict:
    return {
        "running": with_durations(selectors.dashboard_running(user=user)),
        "failures": with_durations(selectors.dashboard_recent_failures(user=user)),
        "poll_seconds": DASHBOARD_POLL_SECONDS,
    }


@login_required
@require_GET
def dashboard_live(request: HttpRequest) -> HttpResponse:
    """The dashboard's live fragment (polled): running and recently failed runs the user reads; two queries."""
    return render(request, "runs_app/partials/_dashboard_live.html", _dashboard_live_context(request.user))


@login_required
@require_http_methods(["GET", "POST"])
def workspace_create(request: HttpRequest) -> HttpResponse:
    form = WorkspaceCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form_add_errors(form, exc)
        else:
            messages.success(request, f"Workspace “{workspace.name}” created; you are its owner.")
            return redirect_after_post(request, workspace.get_absolute_url())
    return render(request, "runs_app/workspace_create.html", {"form": form})


@login_required
@require_GET
def workspace_detail(request: HttpRequest, ws: str) -> HttpResponse:
    user = request.user
    workspace = selectors.workspace_get(user=user, slug=ws)
    role = selectors.workspace_role(user=user, workspace=workspace)
    members = list(selectors.membership_list(user=user, workspace=workspace))
    recent = selectors.run_list(user=user, filters={"workspace": workspace.pk})[:10]
    return render(
        request,
        "runs_app/workspace_detail.html",
        {
            "workspace": workspace,
            "role": role,
            "can_edit": role_at_least(role, Role.EDITOR),
            "is_owner": role_at_least(role, Role.OWNER),
            "show_archived": request.GET.get("archived") == "1",
            "projects": selectors.project_list(
                user=user, workspace=workspace, archived=request.GET.get("archived") == "1"
            ),
            "members": members,
            "recent_runs": with_durations(recent),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def workspace_members(request: HttpRequest, ws: str) -> HttpResponse:
    user = request.user
    workspace = selectors.workspace_get(user=user, slug=ws)
    role = selectors.workspace_role(user=user, workspace=workspace)
    set_form = MembershipSetForm(prefix="add")
    remove_error = None
    if request.method == "POST":
        # Only owners change members; the service checks again, this answers 403 before parsing.
        selectors.workspace_require_role(user=user, workspace=workspace, role=Role.OWNER)
        action = request.POST.get("action")
        if action == "remove":
            form = MembershipRemoveForm(request.POST)
            if form.is_valid():
                username = form.cleaned_data["username"]
                try:
                    services.membership_remove(actor=user, workspace=workspace, username=username)
                except (ValidationError, Conflict) as exc:
                    remove_error = exc.message if isinstance(exc, Conflict) else " ".join(exc.messages)
                else:
                    messages.success(request, f"{username} is no longer a member of (or invited to) {workspace.name}.")
                    return redirect_after_post(request, request.path)
            else:
                remove_error = "Choose a member to remove."
        else:
            prefix = "add" if action == "add" else None
            form = MembershipSetForm(request.POST, prefix=prefix)
            if form.is_valid():
                try:
                    result = services.membership_set(actor=user, workspace=workspace, **form.cleaned_data)
                except ValidationError as exc:
                    form_add_errors(form, exc)
                except Conflict as exc:
                    form.add_error(None, exc.message)
                else:
                    if isinstance(result, Invitation):
                        # The same answer whether or not such an account exists (no username enumeration).
                        messages.success(
                            request,
                            f"Invited {result.username} as {result.role}: they become a member when they accept.",
                        )
                    else:
                        messages.success(request, f"{result.user.username} is now {result.role} in {workspace}.")
                    return redirect_after_post(request, request.path)
            if prefix == "add":
                set_form = form
            else:
                remove_error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    return render(
        request,
        "runs_app/workspace_members.html",
        {
            "workspace": workspace,
            "role": role,
            "is_owner": role_at_least(role, Role.OWNER),
            "members": selectors.membership_list(user=user, workspace=workspace),
            "invitations": selectors.invitation_list(user=user, workspace=workspace),
            "set_form": set_form,
            "row_error": remove_error,
            "roles": Role.choices,
        },
        status=400 if remove_error or set_form.errors else 200,
    )
