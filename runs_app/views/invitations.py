"""The invitee's page: pending invitations to workspaces, accepted or declined here (issue 12)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .. import selectors, services


class InvitationRespondForm(forms.Form):
    workspace = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    action = forms.ChoiceField(choices=[("accept", "Accept"), ("decline", "Decline")])


@login_required
@require_http_methods(["GET", "POST"])
def invitation_list(request: HttpRequest) -> HttpResponse:
    """GET: the caller's pending invitations. POST ``workspace``, ``action=accept|decline``: answer one."""
    error = None
    if request.method == "POST":
        form = InvitationRespondForm(request.POST)
        if form.is_valid():
            workspace_id, action = form.cleaned_data["workspace"], form.cleaned_data["action"]
            try:
                if action == "accept":
                    membership = services.invitation_accept(user=request.user, workspace_id=workspace_id)
                else:
                    services.invitation_decline(user=request.user, workspace_id=workspace_id)
            except Http404 as exc:
                error = str(exc)
            else:
                if action == "accept":
                    workspace = membership.workspace
                    messages.success(request, f"You are now {membership.role} in {workspace.name}.")
                    return redirect(workspace.get_absolute_url())
                messages.info(request, "Invitation declined.")
                return redirect(request.path)
        else:
            error = "Choose an invitation and accept or decline it."
    return render(
        request,
        "runs_app/invitation_list.html",
        {"invitations": selectors.invitation_list_for_user(user=request.user), "error": error},
        status=400 if error else 200,
    )
