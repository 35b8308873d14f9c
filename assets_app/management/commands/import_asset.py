"""``manage.py import_asset SOURCE --workspace SLUG [--project SLUG] [--experiment SLUG] [--name N]
[--action copy|move|symlink|hardlink] [--tag T]… [--user U]``: a thin adapter over data_asset_import.

SOURCE must be below ``MOLEXP_IMPORT_ROOTS``. Without ``--user`` the import is the
trusted server-side API (no role check); with it, the user must be an editor or owner.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from assets_app.services import data_asset_import
from assets_app.services.libraries import IMPORT_ACTIONS
from runs_app.models import Experiment, Project, Workspace


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{key}: {' '.join(msgs)}" for key, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


class Command(BaseCommand):
    help = "Import a server file or directory (below MOLEXP_IMPORT_ROOTS) into a data library."

    def add_arguments(self, parser):
        parser.add_argument("source", help="absolute path of a file or directory below an import root")
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--project", default="", help="project slug (narrows the scope)")
        parser.add_argument("--experiment", default="", help="experiment slug (needs --project)")
        parser.add_argument("--name", default="", help="asset name (default: the source's base name)")
        parser.add_argument("--action", default="copy", choices=[str(a) for a in IMPORT_ACTIONS])
        parser.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")
        parser.add_argument("--description", default="")
        parser.add_argument("--user", default="", help="import as this user (checks the editor role)")

    def handle(self, *args, **opts):
        workspace = Workspace.objects.filter(slug=opts["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace {opts['workspace']!r}")
        project = experiment = None
        if opts["experiment"] and not opts["project"]:
            raise CommandError("--experiment needs --project")
        if opts["project"]:
            project = Project.objects.filter(workspace=workspace, slug=opts["project"]).first()
            if project is None:
                raise CommandError(f"No project {opts['project']!r} in workspace {workspace.slug!r}")
        if opts["experiment"]:
            experiment = Experiment.objects.filter(project=project, slug=opts["experiment"]).first()
            if experiment is None:
                raise CommandError(f"No experiment {opts['experiment']!r} in project {project.slug!r}")
        user = None
        if opts["user"]:
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"No user {opts['user']!r}")
        try:
            asset = data_asset_import(
                workspace=workspace,
                project=project,
                experiment=experiment,
                name=opts["name"],
                source=opts["source"],
                action=opts["action"],
                tags=opts["tag"],
                user=user,
                description=opts["description"],
            )
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from None
        except (PermissionDenied, Http404) as exc:
            raise CommandError(str(exc) or "Permission denied") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{asset.name} v{asset.version} (id {asset.pk}) {asset.import_action}: "
                f"{asset.size} bytes sha256={asset.sha256}"
            )
        )
