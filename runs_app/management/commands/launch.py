"""``manage.py launch EXPERIMENT --profile P --override K=V --sweep lr=0.1,0.2``: a thin adapter over run_launch.

EXPERIMENT is ``<workspace>/<project>/<experiment>`` (slugs) or an experiment id.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from molexp_site.errors import TooManyRequests
from runs_app.management.cli import command_user
from runs_app.models import Experiment
from runs_app.profiles import ProfileError, coerce_value
from runs_app.services import run_launch


def _pairs(items: list[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise CommandError(f"--{what} {item!r}: expected NAME=VALUE")
        key, value = item.split("=", 1)
        pairs.append((key.strip(), value))
    return pairs


class Command(BaseCommand):
    help = "Launch runs of an experiment (one run, or one per sweep cell)."

    def add_arguments(self, parser):
        parser.add_argument("experiment", help="workspace/project/experiment slugs, or the experiment id")
        parser.add_argument("--profile", default="", help="profile name from molcfg.yaml")
        parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument(
            "--sweep", action="append", default=[], metavar="AXIS=V1,V2", help="one axis per flag; values split on ','"
        )
        parser.add_argument("--user", default="", help="launch as this user (default: the first superuser)")

    def handle(self, *args, **opts):
        experiment = self._experiment(opts["experiment"])
        user = command_user(opts["user"])
        params = {k: coerce_value(v) for k, v in _pairs(opts["param"], "param")} if opts["param"] else None
        sweep = None
        if opts["sweep"]:
            sweep = {k: [coerce_value(x) for x in v.split(",")] for k, v in _pairs(opts["sweep"], "sweep")}
        if params is not None and sweep is not None:
            raise CommandError("Give --param or --sweep, not both.")
        try:
            runs = run_launch(
                user=user,
                experiment=experiment,
                profile=opts["profile"],
                overrides=opts["override"],
                params=params,
                sweep=sweep,
            )
        except ValidationError as exc:
            messages = exc.message_dict if hasattr(exc, "error_dict") else {"error": exc.messages}
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in messages.items())) from None
        except (PermissionDenied, Http404, ProfileError, TooManyRequests) as exc:
            raise CommandError(str(exc)) from None
        for warning in runs.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        for run in runs:
            self.stdout.write(f"run #{run.number} (id {run.pk}) queued: profile={run.profile or '-'} "
                              f"config_hash={run.config_hash[:12]} params={run.params}")  # fmt: skip
        self.stdout.write(self.style.SUCCESS(f"{len(runs)} run(s) launched"))

    def _experiment(self, ref: str) -> Experiment:
        qs = Experiment.objects.select_related("project", "workspace")
        if ref.isdigit():
            found = qs.filter(pk=int(ref)).first()
        else:
            parts = ref.strip("/").split("/")
            if len(parts) != 3:
                raise CommandError(f"{ref!r}: give workspace/project/experiment slugs or an id")
            found = qs.filter(workspace__slug=parts[0], project__slug=parts[1], slug=parts[2]).first()
        if found is None:
            raise CommandError(f"No experiment {ref!r}")
        return found
