"""The fixture world of the security battery (SPEC §11) and the URLconf walk.

``world`` builds one workspace (``lab``: owner, editor, viewer) holding one of
everything a URL can name — project, experiment (a real workflow file), a
finished (failed) run with an execution, an asset of every kind with a file,
and an unfinished tus upload of the editor — plus a second workspace
(``elsewhere``) whose only member is ``outsider``, with its own project,
experiment and run (the targets of foreign-key injection). ``MEDIA_ROOT`` is a
fresh temporary folder so tests can assert nothing was written outside it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from assets_app.services import (
    asset_create,
    blob_store_bytes,
    checkpoint_create,
    error_trace_create,
    log_append_lines,
    log_open,
    upload_create,
)
from runs_app.choices import ExecutionStatus, Role, RunStatus
from runs_app.services import experiment_create
from tests import factories as f
from tests.runs_app.workflow_fixtures import MOLCFG, WORKFLOW

ACTORS = ("owner", "editor", "viewer", "outsider", "anonymous", "staff")
#: Words that only ``lab``'s rows contain: they must never reach an outsider or an anonymous caller.
SECRET_WORDS = ("zanzibar", "quokka", "quetzal")


@pytest.fixture
def media(settings, tmp_path):
    """A fresh MEDIA_ROOT and default storage under ``tmp_path/media``."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.MOLEXP_WORK_DIR = tmp_path / "work"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


@pytest.fixture
def workflow_dir(tmp_path, settings):
    wf = tmp_path / "workflows"
    wf.mkdir()
    (wf / "chem.py").write_text(WORKFLOW)
    (wf / "molcfg.yaml").write_text(MOLCFG)
    (wf / "featurize.py").write_text("# a workflow\n")
    settings.MOLEXP_WORKFLOW_DIRS = [str(wf)]
    return wf


@dataclass
class World:
    users: dict
    ws: object
    other_ws: object
    project: object
    experiment: object
    run: object
    execution: object
    assets: dict
    upload: object
    other_project: object
    other_experiment: object
    other_run: object
    tmp: Path
    media: Path
    extra: dict = field(default_factory=dict)


@pytest.fixture
def world(db, tmp_path, media, workflow_dir) -> World:
    users = {name: f.UserFactory(username=name) for name in ("owner", "editor", "viewer", "outsider")}
    users["staff"] = f.UserFactory(username="staff", is_staff=True)
    users["anonymous"] = None
    f.UserFactory(username="newcomer")

    ws = f.WorkspaceFactory(name="Lab", slug="lab")
    for role in ("owner", "editor", "viewer"):
        f.MembershipFactory(workspace=ws, user=users[role], role=Role(role))
    other_ws = f.WorkspaceFactory(name="Elsewhere", slug="elsewhere")
    f.MembershipFactory(workspace=other_ws, user=users["outsider"], role=Role.OWNER)

    project = f.ProjectFactory(workspace=ws, name="Zanzibar QM9", slug="qm9")
    experiment = experiment_create(
        user=users["editor"], project=project, name="Quokka baseline", slug="baseline", workflow_source="chem.py"
    )
    run = f.RunFactory(
        experiment=experiment,
        number=1,
        status=RunStatus.FAILED,
        error={"type": "RuntimeError", "message": "boom", "task": "featurize"},
    )
    experiment.run_counter = 1  # what launching that run would have left
    experiment.save(update_fields=["run_counter"])
    execution = f.ExecutionFactory(run=run, number=1, status=ExecutionStatus.FAILED)
    f.RunEventFactory(run=run, to_status=RunStatus.FAILED)
    f.MetricFactory(run=run)

    assets = {
        "data": asset_create(
            kind="data", name="ligands-quetzal.csv", project=project, blob=blob_store_bytes(b"a,b\n1,2\n")
        ),
        "artifact": asset_create(
            kind="artifact", name="features.json", run=run, blob=blob_store_bytes(b"[1, 2]"), producer_task="featurize"
        ),
        "checkpoint": checkpoint_create(run=run, execution=execution, task="featurize", name="ckpt", data={"n": 2}),
        "error_trace": error_trace_create(
            run=run,
            execution=execution,
            task="featurize",
            exception_type="RuntimeError",
            message="boom",
            traceback_text="Traceback (most recent call last):\nRuntimeError: boom\n",
            frames=[("chem.py", "featurize")],
        ),
    }
    log = log_open(run=run, execution=execution, name="featurize", task="featurize")
    log_append_lines(asset=log, lines=["2 molecules"])
    assets["log"] = log
    run.error = {**run.error, "traceback_asset": assets["error_trace"].pk}
    run.save(update_fields=["error"])

    upload = upload_create(user=users["editor"], length=10, metadata={"filename": "part.csv", "workspace": str(ws.pk)})

    other_project = f.ProjectFactory(workspace=other_ws, name="Secret", slug="secret")
    other_experiment = f.ExperimentFactory(project=other_project, name="Hidden", slug="hidden")
    other_run = f.RunFactory(experiment=other_experiment, number=1, status=RunStatus.SUCCEEDED)
    return World(
        users=users,
        ws=ws,
        other_ws=other_ws,
        project=project,
        experiment=experiment,
        run=run,
        execution=execution,
        assets=assets,
        upload=upload,
        other_project=other_project,
        other_experiment=other_experiment,
        other_run=other_run,
        tmp=tmp_path,
        media=media,
    )


def client_for(world: World, actor: str, *, api: bool, csrf: bool = False):
    """A client signed in as ``actor`` (session for pages, forced auth for the API)."""
    user = world.users[actor]
    if api:
        client = APIClient(enforce_csrf_checks=csrf)
        if user is not None:
            client.force_authenticate(user=user)
        return client
    client = Client(enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


# --- the URLconf walk -------------------------------------------------------------------------

#: Prefixes left out of the generic walk, with the reason.
SKIPPED_PREFIXES = {
    # Django's admin has its own staff-only gate, covered by tests/test_admin.py and a spot check here.
    "admin/": "Django admin (staff only, tested separately)",
}


@dataclass(frozen=True)
class Route:
    """One URL pattern: its full regex-free template, its name and its keyword arguments."""

    template: str  # e.g. "api/runs/<pk>/cancel/"
    name: str  # "namespace:name" or the pattern string
    kwargs: tuple[tuple[str, str], ...]  # (name, converter)
    callback: object

    @property
    def is_api(self) -> bool:
        return self.template.startswith("api/")

    @property
    def id(self) -> str:
        return "/" + self.template


def _converter_name(converter) -> str:
    return type(converter).__name__.replace("Converter", "").lower()


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        pattern = entry.pattern
        if hasattr(pattern, "_route"):
            part = pattern._route
            converters = dict(getattr(pattern, "converters", {}))
        else:  # a regex pattern: name its groups
            import re

            part = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern.regex.pattern.lstrip("^").rstrip("$"))
            converters = {name: None for name in pattern.regex.groupindex}
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + part, ns)
        elif isinstance(entry, URLPattern):
            import re

            template = prefix + part
            names = re.findall(r"<(?:\w+:)?(\w+)>", template)
            kinds = {}
            for name in names:
                conv = converters.get(name)
                kinds[name] = _converter_name(conv) if conv is not None else "str"
            # Converters of the parent patterns: read them from the template itself.
            for conv_name, name in re.findall(r"<(\w+):(\w+)>", template):
                kinds[name] = conv_name
            template = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", template)
            label = f"{namespace}{entry.name}" if entry.name else template
            yield Route(template, label, tuple((n, kinds[n]) for n in names), entry.callback)


def all_routes() -> list[Route]:
    """Every URL pattern of the project's URLconf (the admin skipped), in order, deduplicated."""
    seen, routes = set(), []
    for route in _walk(get_resolver().url_patterns):
        if any(route.template.startswith(p) for p in SKIPPED_PREFIXES):
            continue
        if route.template in seen:
            continue
        seen.add(route.template)
        routes.append(route)
    return routes


#: The model a ``pk`` names, by the path segment in front of it (unknown segments: the run).
SEGMENT_OBJECT = {
    "workspaces": "ws",
    "projects": "project",
    "experiments": "experiment",
    "runs": "run",
    "executions": "execution",
    "assets": "asset",
    "uploads": "upload",
    "traces": "asset",
}


def _segment_before(template: str, kwarg: str) -> str:
    head = template.split(f"<{kwarg}>")[0].rstrip("/").split("/")
    return head[-1] if head else ""


def fill_kwargs(route: Route, world: World, *, missing: bool = False, asset: str = "data") -> dict[str, str]:
    """Values naming objects of ``lab`` (or, with ``missing``, objects that do not exist)."""
    values = {}
    for name, conv in route.kwargs:
        segment = _segment_before(route.template, name)
        key = name.removesuffix("_pk") if name.endswith("_pk") else SEGMENT_OBJECT.get(segment, "")
        if name in ("ws", "workspace"):
            key = "ws_slug" if conv == "slug" else "ws"
        elif name in ("project", "experiment") and conv == "slug":
            key = f"{name}_slug"
        elif name == "number":
            key = "number"
        elif name == "username":
            key = "username"
        elif conv == "uuid":
            key = "upload" if segment == "uploads" or not key else key
        values[name] = _value(world, key or ("uuid" if conv == "uuid" else "run"), conv, missing, asset)
    return values


def _value(world: World, key: str, conv: str, missing: bool, asset: str) -> str:
    if missing:
        if conv == "uuid" or key == "upload":
            return str(uuid.UUID(int=1))
        if conv == "slug" or key.endswith("_slug") or key == "username":
            return "no-such-thing"
        return "987654321"
    objects = {
        "ws": world.ws.pk,
        "workspace": world.ws.pk,
        "ws_slug": world.ws.slug,
        "project": world.project.pk,
        "project_slug": world.project.slug,
        "experiment": world.experiment.pk,
        "experiment_slug": world.experiment.slug,
        "run": world.run.pk,
        "number": world.run.number,
        "execution": world.execution.pk,
        "asset": world.assets[asset].pk,
        "upload": world.upload.pk,
        "uuid": world.execution.uuid,
        "username": "viewer",
    }
    value = objects.get(key, world.run.pk)
    if conv == "uuid" and key not in ("upload", "uuid"):
        value = world.execution.uuid if key == "execution" else world.upload.pk
    return str(value)


def build_url(route: Route, values: dict[str, str]) -> str:
    path = route.template
    for name, value in values.items():
        path = path.replace(f"<{name}>", value)
    return "/" + path


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Sign-in counters and DRF throttles live in the cache: each test starts and ends with none."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
