"""``manage.py import_crate FILE --workspace SLUG [--project SLUG] [--user U]``: re-register a run crate.

A thin adapter over ``runs_app.crate.crate_import``: the run is read-only and marked imported.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from runs_app.crate import crate_import
from runs_app.management.cli import command_user
from runs_app.selectors import project_get, workspace_get


class Command(BaseCommand):
    help = "Import an RO-Crate exported from a MolExp run into a workspace (read-only, marked imported)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the crate zip")
        parser.add_argument("--workspace", required=True, help="target workspace slug")
        parser.add_argument("--project", default="", help="target project slug (default: named from the crate)")
        parser.add_argument("--user", default="", help="import as this user (default: the first superuser)")

    def handle(self, *args, **options):
        user = command_user(options["user"])
        try:
            workspace = workspace_get(user=user, slug=options["workspace"])
            project = (
                project_get(user=user, workspace=workspace, slug=options["project"]) if options["project"] else None
            )
            with open(options["file"], "rb") as fh:
                result = crate_import(user=user, workspace=workspace, fileobj=fh, project=project,
                                      crate_name=options["file"].rsplit("/", 1)[-1])  # fmt: skip
        except (Http404, PermissionDenied, ValidationError, OSError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", None) or [str(exc)])) from None
        run = result.run
        self.stdout.write(
            f"Imported run {run.number} of {run.experiment.name} ({run.project.slug}) into {workspace.slug}: "
            f"{len(result.assets)} assets, {result.referenced} referenced without bytes; id {run.pk}"
        )
