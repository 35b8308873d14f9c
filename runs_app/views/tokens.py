"""The scoped API tokens page (SPEC §13): create, list and revoke tokens limited to one workspace.

Lists the user's own tokens and those reaching workspaces the user owns (an
owner sees and revokes every token that reaches their workspace).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from .. import selectors
from ..choices import Role
from ..services import tokens as token_services


class ScopedTokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    workspace = forms.ChoiceField()
    max_role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER, label="Maximum role")
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=token_services.MAX_DAYS, initial=30, label="Expires in (days)"
    )

    def __init__(self, *args, workspaces, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workspaces = {str(w.pk): w for w in workspaces}
        self.fields["workspace"].choices = [(str(w.pk), w.name) for w in workspaces]


@login_required
@require_http_methods(["GET", "POST"])
def scoped_tokens(request: HttpRequest) -> HttpResponse:
    workspaces = list(selectors.workspace_list(user=request.user))
    form = ScopedTokenForm(workspaces=workspaces)
    new_key = None
    status = 200
    if request.method == "POST" and request.POST.get("action") == "revoke":
        try:
            token = token_services.scoped_token_revoke(user=request.user, pk=request.POST.get("token"))
        except (Http404, PermissionDenied) as exc:
            messages.error(request, str(exc) or "No such token.")
            return redirect("runs:scoped-tokens")
        messages.success(request, f"Token “{token.name}” revoked.")
        return redirect("runs:scoped-tokens")
    if request.method == "POST":
        form = ScopedTokenForm(request.POST, workspaces=workspaces)
        if form.is_valid():
            try:
                token, new_key = token_services.scoped_token_create(
                    user=request.user, workspace=form.workspaces[form.cleaned_data["workspace"]],
                    name=form.cleaned_data["name"], max_role=form.cleaned_data["max_role"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                )  # fmt: skip
                form = ScopedTokenForm(workspaces=workspaces)
            except ValidationError as exc:
                form.add_error(None, exc)
                status = 400
        else:
            status = 400
    tokens = list(token_services.scoped_token_list(user=request.user)[:500])
    return render(request, "runs_app/scoped_tokens.html",
                  {"form": form, "tokens": tokens, "new_key": new_key, "now": timezone.now()}, status=status)  # fmt: skip
