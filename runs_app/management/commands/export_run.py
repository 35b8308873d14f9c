"""``manage.py export_run RUN --out FILE [--inputs include|reference] [--user U]``: a run as an RO-Crate zip.

RUN is a run id. A thin adapter over ``runs_app.crate.crate_export``.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from runs_app.crate import crate_export
from runs_app.management.cli import command_user
from runs_app.selectors import run_get


class Command(BaseCommand):
    help = "Export a run as an RO-Crate zip (Workflow Run Crate)."

    def add_arguments(self, parser):
        parser.add_argument("run", help="the run id")
        parser.add_argument("--out", required=True, help="the zip file to write")
        parser.add_argument("--inputs", choices=["include", "reference"], default="include")
        parser.add_argument("--user", default="", help="export as this user (default: the first superuser)")

    def handle(self, *args, **options):
        user = command_user(options["user"])
        out = Path(options["out"])
        try:
            run = run_get(user=user, pk=options["run"])
            with open(out, "wb") as fh:
                summary = crate_export(user=user, run=run, out=fh, inputs=options["inputs"])
        except (Http404, PermissionDenied, ValidationError) as exc:
            out.unlink(missing_ok=True)
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Wrote {out} ({summary['files']} files, inputs={summary['inputs']}): {summary['name']}")
