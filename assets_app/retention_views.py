"""The retention page of a workspace (SPEC §14), owners and staff: rules, a preview, then enable.

Enabling a policy always shows its preview first (count and bytes that would go): the page saves
an enabled policy only when the form comes back confirmed for exactly the rules previewed.
Disabling, or saving a disabled policy, needs no confirmation. One service per action
(``retention_preview``, ``retention_policy_set``), as the API.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from runs_app.access import workspace_get, workspace_require_role
from runs_app.choices import Role

from .forms import RetentionPolicyForm
from .services import retention_policy_get, retention_policy_set, retention_preview


@login_required
@require_http_methods(["GET", "POST"])
def workspace_retention(request: HttpRequest, ws: str) -> HttpResponse:
    workspace = workspace_get(user=request.user, slug=ws)
    workspace_require_role(user=request.user, workspace=workspace, role=Role.OWNER)
    policy = retention_policy_get(user=request.user, workspace=workspace)
    initial = {
        "enabled": policy.enabled,
        "keep_last_checkpoints": policy.keep_last_checkpoints,
        "remove_after_days": policy.remove_after_days,
    }
    form = RetentionPolicyForm(request.POST or None, initial=initial)
    preview = None
    needs_confirm = False
    status = 200
    if request.method == "POST":
        if form.is_valid():
            rules = {k: form.cleaned_data[k] for k in ("keep_last_checkpoints", "remove_after_days")}
            try:
                preview = retention_preview(user=request.user, workspace=workspace, **rules)
                confirmed = request.POST.get("confirm") == form.signature()
                if request.POST.get("action") == "save" and (not form.cleaned_data["enabled"] or confirmed):
                    retention_policy_set(
                        user=request.user, workspace=workspace, enabled=form.cleaned_data["enabled"], **rules
                    )
                    messages.success(request, "Retention policy saved.")
                    return redirect(reverse("assets:retention", kwargs={"ws": workspace.slug}))
                needs_confirm = request.POST.get("action") == "save"
            except ValidationError as exc:
                form.add_error(None, exc.messages)
                status = 400
        else:
            status = 400
    else:
        preview = retention_preview(
            user=request.user,
            workspace=workspace,
            keep_last_checkpoints=policy.keep_last_checkpoints,
            remove_after_days=policy.remove_after_days,
        )
    return render(
        request,
        "assets_app/workspace_retention.html",
        {
            "workspace": workspace,
            "policy": policy,
            "form": form,
            "preview": preview,
            "needs_confirm": needs_confirm,
            "signature": form.signature() if form.is_bound and form.is_valid() else "",
        },
        status=status,
    )
