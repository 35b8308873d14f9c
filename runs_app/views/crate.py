"""Pages for portable runs: download a run as an RO-Crate zip, import a crate into a workspace.

Thin adapters over ``runs_app.crate.crate_export``/``crate_import`` (runs_app
reaches assets only through the crate package). The import form lives
here rather than in ``forms.py`` because nothing else uses it.
"""

from __future__ import annotations

import tempfile

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .. import selectors
from ..choices import Role
from ..crate import crate_export, crate_filename, crate_import


class CrateImportForm(forms.Form):
    file = forms.FileField(label="RO-Crate zip", help_text="A crate exported from a MolExp run page.")
    project = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="A project named after the crate's (created if needed)"
    )

    def __init__(self, *args, projects=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects


def crate_response(*, user, run, inputs: str, source_url: str = "") -> FileResponse:
    """Build the crate into an anonymous temporary file and stream it as a zip attachment."""
    tmp = tempfile.TemporaryFile()
    try:
        crate_export(user=user, run=run, out=tmp, inputs=inputs, source_url=source_url)
    except BaseException:
        tmp.close()
        raise
    tmp.seek(0)
    response = FileResponse(tmp, as_attachment=True, filename=crate_filename(run=run), content_type="application/zip")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def run_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The run as an RO-Crate zip (any member); ``?inputs=include|reference``."""
    run = selectors.run_get(user=request.user, pk=pk)
    try:
        return crate_response(
            user=request.user,
            run=run,
            inputs=request.GET.get("inputs", "include"),
            source_url=request.build_absolute_uri(run.get_absolute_url()),
        )
    except ValidationError as exc:
        return HttpResponseBadRequest("; ".join(exc.messages))


@login_required
@require_http_methods(["GET", "POST"])
def crate_import_page(request: HttpRequest, ws: str) -> HttpResponse:
    """Import a run crate into this workspace (editor or owner): a read-only record marked imported."""
    workspace = selectors.workspace_get(user=request.user, slug=ws)
    selectors.workspace_require_role(user=request.user, workspace=workspace, role=Role.EDITOR)
    projects = selectors.project_list(user=request.user, workspace=workspace)
    form = CrateImportForm(request.POST or None, request.FILES or None, projects=projects)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = crate_import(
                    user=request.user,
                    workspace=workspace,
                    fileobj=upload,
                    project=form.cleaned_data.get("project"),
                    crate_name=upload.name,
                )
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error("file", message)
            else:
                run = result.run
                messages.success(request, f"Imported as {run.experiment.name} #{run.number} (read-only).")
                return redirect(run.get_absolute_url())
        status = 400
    return render(request, "runs_app/crate_import.html", {"workspace": workspace, "form": form}, status=status)
