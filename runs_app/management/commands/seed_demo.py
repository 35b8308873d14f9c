"""``manage.py seed_demo``: the demo account and workspace that ``make run`` shows a newcomer.

Idempotent: each object is created only when missing, through the same
services the pages and the API use, so running it again changes nothing and
prints the same credentials. The admin password is generated once and kept in
``var/demo-admin-password`` (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction

from assets_app import services as asset_services
from runs_app import services
from runs_app.models import Experiment, Project, Workspace

DATASET = Path(settings.BASE_DIR) / "examples" / "data" / "ligands.csv"
ADMIN_USERNAME = "admin"
PASSWORD_FILE_NAME = "demo-admin-password"

WORKSPACE = {"name": "Demo lab", "slug": "demo", "description": "Sample workspace created by `make run`."}
PROJECT = {"name": "Ligand screening", "slug": "ligands", "description": "Featurizing a small ligand library."}
EXPERIMENT = {
    "name": "Featurize baseline",
    "slug": "featurize-baseline",
    "workflow_source": "featurize.py",
    "description": "SMILES string features of examples/data/ligands.csv (profiles: default, smoke, full-scale, broken).",
}


def _read_or_create_password(path: Path) -> tuple[str, bool]:
    """The kept password, or a new one written with mode 0600; returns (password, created)."""
    if path.exists():
        password = path.read_text().strip()
        if password:
            return password, False
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written password
    return password, True


class Command(BaseCommand):
    help = "Create the demo admin, workspace, project and experiment if missing, and print the credentials."

    def handle(self, *args, **options) -> None:
        password_file = Path(settings.VAR_DIR) / PASSWORD_FILE_NAME
        password, new_password = _read_or_create_password(password_file)
        User = get_user_model()
        with transaction.atomic():
            admin = User.objects.filter(username=ADMIN_USERNAME).first()
            if admin is None:
                admin = User.objects.create_superuser(ADMIN_USERNAME, "admin@example.org", password)
                self.stdout.write(f"Created superuser {ADMIN_USERNAME}.")
            elif new_password:
                # The password file was lost: make the account match what we print.
                admin.set_password(password)
                admin.save(update_fields=["password"])
                self.stdout.write(f"Reset the password of {ADMIN_USERNAME} to the one in {password_file}.")
            elif not admin.check_password(password):
                # Someone changed it on purpose: never put the generated one back.
                password = ""

        if self._demo_workflow_missing():
            self.stdout.write(
                f"Demo workspace skipped: {EXPERIMENT['workflow_source']} is not in MOLEXP_WORKFLOW_DIRS "
                f"({os.pathsep.join(str(d) for d in settings.MOLEXP_WORKFLOW_DIRS) or 'none'})."
            )
        else:
            self._seed_workspace(admin)
        self._print_credentials(password, password_file)

    def _demo_workflow_missing(self) -> bool:
        """True when the demo's workflow file cannot be found (a team serving only its own folders)."""
        if Experiment.objects.filter(workspace__slug=WORKSPACE["slug"], slug=EXPERIMENT["slug"]).exists():
            return False  # seeded earlier: nothing of the demo needs its file now
        try:
            services.workflow_resolve(EXPERIMENT["workflow_source"])
        except ValidationError:
            return True
        return False

    def _seed_workspace(self, admin) -> None:
        workspace = Workspace.objects.filter(slug=WORKSPACE["slug"]).first()
        if workspace is None:
            workspace = services.workspace_create(user=admin, **WORKSPACE)
            self.stdout.write(f"Created workspace {workspace.name!r}.")
        project = Project.objects.filter(workspace=workspace, slug=PROJECT["slug"]).first()
        if project is None:
            project = services.project_create(user=admin, workspace=workspace, **PROJECT)
            self.stdout.write(f"Created project {project.name!r}.")
        if not Experiment.objects.filter(project=project, slug=EXPERIMENT["slug"]).exists():
            experiment = services.experiment_create(user=admin, project=project, **EXPERIMENT)
            self.stdout.write(f"Created experiment {experiment.name!r}.")
        dataset = asset_services.data_asset_add_file(
            user=admin, path=DATASET, workspace=workspace, tags=["demo", "smiles"],
            description="46 drug-like molecules (name, SMILES) for the featurize demo.",
        )  # fmt: skip
        self.stdout.write(f"Data asset {dataset.name!r} v{dataset.version} is in the workspace library.")

    def _print_credentials(self, password: str, password_file: Path) -> None:
        port = os.environ.get("PORT") or "8000"
        self.stdout.write(
            self.style.SUCCESS(f"Demo admin: username {ADMIN_USERNAME}, password {password}, http://127.0.0.1:{port}/")
            if password
            else self.style.WARNING(
                f"Demo admin: username {ADMIN_USERNAME} (its password was changed; the generated one in "
                f"{password_file} no longer applies), http://127.0.0.1:{port}/"
            )
        )
