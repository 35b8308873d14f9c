"""``manage.py reproduce RUN [--user U] [--wait]``: a thin adapter over run_reproduce.

RUN is a run id or ``<workspace>/<project>/<experiment>#<number>`` (slugs). With
``--wait`` the command polls until the reproduction has a verdict and prints it;
the exit status is 0 when it reproduced and 1 otherwise.
"""

from __future__ import annotations

import json
import time

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from molexp_site.errors import Conflict, TooManyRequests
from runs_app.management.cli import command_user
from runs_app.models import Run
from runs_app.services import reproduction_verdict_get, run_reproduce


class Command(BaseCommand):
    help = (
        "Reproduce a finished run from its record (snapshot, config, exact inputs) and optionally wait for the verdict."
    )

    def add_arguments(self, parser):
        parser.add_argument("run", help="run id, or workspace/project/experiment#number")
        parser.add_argument("--user", default="", help="reproduce as this user (default: the first superuser)")
        parser.add_argument("--wait", action="store_true", help="poll until the verdict exists and print it")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits at most")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
        parser.add_argument("--json", action="store_true", help="print the whole verdict as JSON")

    def handle(self, *args, **opts):
        run = self._run(opts["run"])
        user = command_user(opts["user"])
        try:
            copy = run_reproduce(user=user, run=run)
        except (Conflict, TooManyRequests, PermissionDenied, Http404) as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"run #{copy.number} (id {copy.pk}) queued: reproduction of run #{run.number} (id {run.pk})")
        if not opts["wait"]:
            return
        deadline = time.monotonic() + opts["timeout"]
        verdict = None
        while True:
            copy = Run.objects.get(pk=copy.pk)
            verdict = reproduction_verdict_get(run=copy)
            if verdict is not None:
                break
            if time.monotonic() > deadline:
                raise CommandError(f"No verdict after {opts['timeout']:g} s; run #{copy.number} is {copy.status}")
            time.sleep(opts["interval"])
        if opts["json"]:
            self.stdout.write(json.dumps(verdict, indent=2, sort_keys=True))
        style = self.style.SUCCESS if verdict["reproduced"] else self.style.ERROR
        self.stdout.write(style(verdict["summary"]))
        if not verdict["reproduced"]:
            raise SystemExit(1)

    def _run(self, ref: str) -> Run:
        qs = Run.objects.select_related("experiment", "project", "workspace", "source_blob")
        if ref.isdigit():
            found = qs.filter(pk=int(ref)).first()
        else:
            path, _, number = ref.strip().partition("#")
            parts = path.strip("/").split("/")
            if len(parts) != 3 or not number.isdigit():
                raise CommandError(f"{ref!r}: give a run id or workspace/project/experiment#number")
            found = qs.filter(workspace__slug=parts[0], project__slug=parts[1], experiment__slug=parts[2],
                              number=int(number)).first()  # fmt: skip
        if found is None:
            raise CommandError(f"No run {ref!r}")
        return found
