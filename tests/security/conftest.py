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

import pickle
import shutil
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
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
from runs_app.services import experiment_create, heartbeat_record
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
    settings.STORAGES = {**settings.STORAGES, "default": _media_storage(root)}
    return root


def _media_storage(root: Path) -> dict:
    return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}


def _write_workflows(wf: Path) -> None:
    (wf / "chem.py").write_text(WORKFLOW)
    (wf / "molcfg.yaml").write_text(MOLCFG)
    (wf / "featurize.py").write_text("# a workflow\n")


@pytest.fixture
def workflow_dir(tmp_path, settings):
    wf = tmp_path / "workflows"
    wf.mkdir()
    _write_workflows(wf)
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


def _build_world(tmp_path: Path, media: Path) -> World:
    """Create the rows and files of the world (settings must already point at ``media`` and the workflows)."""
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
    from runs_app.services.tokens import scoped_token_create

    token, _key = scoped_token_create(user=users["editor"], workspace=ws, name="ci", max_role="editor")
    # A second run, deleted by the owner: the trash routes name its entry (SPEC §14).
    from runs_app.services import object_delete

    trashed_run = f.RunFactory(experiment=experiment, number=2, status=RunStatus.FAILED)
    experiment.run_counter = 2
    experiment.save(update_fields=["run_counter"])
    trash_entry = object_delete(user=users["owner"], obj=trashed_run)

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
        extra={"token": token, "trash": trash_entry, "trashed_run": trashed_run, "sessions": _sign_in(users)},
    )


def _sign_in(users: dict) -> dict:
    """A session cookie per signed-in actor, made by ``force_login`` (rows of the world like the others:
    the URL walk's clients carry them instead of signing in again in every test)."""
    from django.conf import settings

    cookies = {}
    for actor, user in users.items():
        if user is not None:
            client = Client()
            client.force_login(user)
            cookies[actor] = client.cookies[settings.SESSION_COOKIE_NAME].value
    return cookies


# --- one world per module, a savepoint per test -------------------------------------------------
#
# Building the world takes ~0.1 s and the battery has ~1000 cases. Like Django's
# ``TestCase.setUpTestData``, the rows are created once per module inside an open
# transaction; each test's own atomic block (pytest-django's ``db``) is then a
# savepoint rolled back after the test, so a write in one case never reaches the next.
# Each test also gets its own copies: of the Python objects (a pickle round trip: a deep copy,
# like ``TestData``'s, at a fraction of deepcopy's cost) and of the files (the world's media
# folder is copied into the test's ``tmp_path``). Transactional tests (``live_server``, ``transaction=True``) cannot run
# inside that transaction: they close it first and build their own world as before.

#: The item being set up (set by ``pytest_runtest_setup``): the module world opens only for
#: non-transactional items.
_CURRENT_ITEM: list = [None]
_OPEN_WORLDS: list[_SharedWorld] = []


def _is_transactional(item) -> bool:
    if item is None:
        return False
    names = set(getattr(item, "fixturenames", ()))
    if names & {"transactional_db", "live_server", "django_db_reset_sequences"}:
        return True
    marker = item.get_closest_marker("django_db")
    if marker is None:
        return False
    return bool(
        marker.kwargs.get("transaction")
        or marker.kwargs.get("reset_sequences")
        or (marker.args and marker.args[0])
        or (len(marker.args) > 1 and marker.args[1])
    )


class _SharedWorld:
    """The module's world, built once inside a transaction that is rolled back at the end."""

    def __init__(self, blocker, base: Path):
        self.blocker = blocker
        self.base = base
        self.atomic = None
        self.world: World | None = None
        self.pickled = b""

    @property
    def is_open(self) -> bool:
        return self.atomic is not None

    def open(self) -> None:
        from django.core.cache import cache
        from django.db import transaction
        from django.test import override_settings

        media = self.base / "media"
        media.mkdir()
        workflows = self.base / "workflows"
        workflows.mkdir()
        _write_workflows(workflows)
        # What the function-scoped fixtures (media, workflow_dir, the autouse ones of tests/conftest.py) set.
        overrides = override_settings(
            MEDIA_ROOT=media,
            MOLEXP_WORK_DIR=self.base / "work",
            STORAGES={**_settings().STORAGES, "default": _media_storage(media)},
            MOLEXP_WORKFLOW_DIRS=[str(workflows)],
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}},
        )
        with self.blocker.unblock():
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            _OPEN_WORLDS.append(self)
            try:
                with overrides:
                    cache.clear()
                    self.world = _build_world(self.base, media)
                    # The heartbeat rows exist from here: each test's ``_stack_alive`` is then two UPDATEs.
                    _stack_alive()
                    cache.clear()
                # Each test gets a deep copy of these objects; unpickling costs a fraction of a deepcopy.
                self.pickled = pickle.dumps(self.world, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self.atomic is None:
            return
        from django.db import transaction

        atomic, self.atomic, self.world, self.pickled = self.atomic, None, None, b""
        if self in _OPEN_WORLDS:
            _OPEN_WORLDS.remove(self)
        with self.blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)

    def copy_for(self, tmp_path: Path, media: Path) -> World:
        """This test's world: its own objects, and the world's files copied into its ``tmp_path``."""
        assert self.world is not None
        for child in self.base.iterdir():
            if child.name == "workflows":  # written by the workflow_dir fixture
                continue
            target = media if child.name == "media" else tmp_path / child.name
            if child.is_dir() and not child.is_symlink():
                shutil.copytree(child, target, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(child, target, follow_symlinks=False)
        world = pickle.loads(self.pickled)  # an independent deep copy of the rows' objects
        world.tmp = tmp_path
        world.media = media
        return world


def _settings():
    from django.conf import settings

    return settings


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before a transactional test: roll back an open module world (its transaction would enclose the test)."""
    _CURRENT_ITEM[0] = item
    if _is_transactional(item):
        for shared in list(_OPEN_WORLDS):
            shared.close()


@pytest.fixture(scope="module")
def _module_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Module scope: set up before the test's ``db`` savepoint, so the rows outlive it (see above)."""
    shared = _SharedWorld(django_db_blocker, tmp_path_factory.mktemp("world"))
    if not _is_transactional(_CURRENT_ITEM[0]):
        shared.open()
    yield shared
    shared.close()


@pytest.fixture
def world(request, db, tmp_path, media, workflow_dir, _module_world) -> World:
    _stack_alive()
    if _module_world.is_open and not _is_transactional(request.node):
        return _module_world.copy_for(tmp_path, media)
    return _build_world(tmp_path, media)


def _stack_alive() -> None:
    """Fresh heartbeats of a worker and of the maintenance, as a running stack leaves them: /healthz is 200."""
    heartbeat_record(kind="worker", name="world@host", queues="default,runs", restart=True)
    heartbeat_record(kind="maintenance", name="runs.maintenance")


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


def reused_client(world: World, actor: str, *, api: bool):
    """What ``client_for(world, actor, api=api)`` returns, made once per test and reset before each use.

    A fresh client per request signs in again (``force_login``: a session row, the login signal) and
    builds a new middleware chain; batteries of thousands of requests spent a third of their time
    there. This client is reset to what a fresh one sends: no cookies but the actor's session cookie
    (the world's, made by ``force_login``: ``_sign_in``). When a response set or deleted that cookie
    (a logout, a write to the session), the actor signs in again, as the next fresh client would have.
    """
    from django.conf import settings

    name = settings.SESSION_COOKIE_NAME
    clients = world.extra.setdefault("reused_clients", {})
    user = world.users[actor]
    if (actor, api) not in clients:
        if api or user is None:
            clients[actor, api] = [client_for(world, actor, api=api), None, None]
        else:
            clients[actor, api] = [Client(), world.extra["sessions"][actor], None]
    entry = clients[actor, api]
    client, session_key, sent = entry
    if sent is not None and client.cookies.get(name) is not sent:  # a response touched the session
        client.cookies = SimpleCookie()
        client.force_login(user)
        session_key = entry[1] = client.cookies[name].value
    client.cookies = SimpleCookie({name: session_key} if session_key else {})
    entry[2] = client.cookies.get(name)
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
    "tokens": "token",
    "trash": "trash",
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
        "token": world.extra["token"].pk if "token" in world.extra else 987654321,
        "trash": world.extra["trash"].pk if "trash" in world.extra else 987654321,
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
