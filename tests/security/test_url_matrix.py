"""Object-access matrix over every URL of the URLconf × verb × actor (SPEC §3, §11).

The routes are enumerated from ``get_resolver()`` at collection time, so a
route added tomorrow is in the matrix the day it lands, with the generic
expectations below; only routes with a *different* rule need a line here.

For each (route, verb) the URL kwargs name objects of ``lab`` and every actor
calls it once:

* no 5xx for anyone;
* **anonymous**: a page redirects to the login page (GET; other verbs may be
  405), the API answers 401 — unless the route is in ``PUBLIC``;
* **outsider** (signed in, member of ``elsewhere`` only): never 2xx/3xx/403
  for a route naming ``lab``'s objects, and exactly the status a
  nonexistent object gets (existence is not revealed); no response an
  outsider or anonymous caller gets contains words only ``lab``'s rows carry;
* **viewer**: reads are never refused (no 401/403/404; a 400 for a missing
  query parameter or a 405 for a verb the route lacks is fine) except the
  forms of writes (``EDITOR_FORMS``: 403; a new route named like a write
  form — ``WRITE_FORM_WORDS`` — may be 403 too); writes never succeed (no 2xx, no
  redirect) except ``ANY_MEMBER_WRITES``;
* **editor, owner, staff**: reads are never refused (401/403), and a 404 is
  never the "no such object" answer a nonexistent id gets (except
  ``PRIVATE``: rows only their creator sees).

Foreign-key injection (objects pointing at another workspace's rows) is at
the end of this file.
"""

from __future__ import annotations

import base64
import json
import re
from http.cookies import SimpleCookie
from importlib import import_module

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.test import Client

from assets_app.models import Asset, Upload
from runs_app.models import Experiment, Membership, Project, Run

from .conftest import SECRET_WORDS, all_routes, build_url, client_for, fill_kwargs

VERBS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch", "delete")

#: Routes anyone may call (no login): (name, verbs or None for all).
PUBLIC = {
    "login": None,
    "logout": None,
    "api-token": None,  # POST /api/auth/token/ exchanges a password; throttled (test_login_throttle.py)
    # Monitoring (docs/operations.md): /healthz shows anonymous callers ok flags only (the world has fresh
    # heartbeats, so it is 200); /metrics lets in loopback clients (the test client is 127.0.0.1) or a
    # bearer token (tests/runs_app/test_ops_endpoints.py).
    "healthz": ("get",),
    "metrics": ("get",),
}
#: The catch-all JSON 404 under /api/ (tested in test_unknown_api_paths_are_json_404).
SKIPPED = {"api-not-found"}
#: GET of a page whose only purpose is a write: 403 for a viewer.
EDITOR_FORMS = {
    "runs:project-create", "runs:experiment-create", "runs:run-launch", "assets:upload",
    "runs:experiment-workflow-offer",  # the new-experiment form's fragment (SPEC §15)
}  # fmt: skip
#: Writes any signed-in member may make (they create the caller's own rows or change nothing).
ANY_MEMBER_WRITES = {
    ("runs:workspace-create", "post"),  # a new workspace the caller owns
    ("workspace-list", "post"),
    ("runs:api-token", "post"),  # the caller's own token
    ("experiment-launch-preview", "post"),  # validates, writes nothing
    ("runs:experiment-columns", "post"),  # the caller's own runs-table columns (SPEC §15)
}
#: Pages only owners (and staff) read (SPEC §14: audit log, edit forms of workspaces and projects,
#: retention policies): 403 for editors and viewers. The delete confirmations and the trash too:
#: only owners delete (an editor their own runs, and the world's run was launched by nobody) and
#: only owners read the trash.
OWNER_READS = {
    "runs:workspace-audit",
    "runs:workspace-edit",
    "runs:project-edit",
    "workspace-retention",
    "assets:retention",
    "runs:workspace-trash",
    "runs:workspace-delete",
    "runs:project-delete",
    "runs:experiment-delete",
    "runs:run-delete",
    "assets:asset-delete",
}
#: Rows visible to their creator (and staff) only: a 404 for other members is right.
#: Scoped tokens: their creator, the workspace's owners and staff see them (SPEC §13).
PRIVATE = {"tus-upload-detail": "editor", "scoped-token-detail": "editor"}

#: Valid bodies for writes, so "refused" means refused by permission, not by validation.
BODIES = {
    "workspace-members": lambda w: {"username": "newcomer", "role": "viewer"},
    "workspace-list": lambda w: {"name": "New lab"},
    "project-list": lambda w: {"workspace": w.ws.pk, "name": "New project"},
    "experiment-list": lambda w: {"project": w.project.pk, "name": "New experiment", "workflow_source": "chem.py"},
    "experiment-launch": lambda w: {"params": {}},
    "experiment-launch-preview": lambda w: {"params": {}},
    "run-clone": lambda w: {},
    "runs:workspace-create": lambda w: {"name": "Spectra"},
    "runs:workspace-members": lambda w: {"action": "add", "add-username": "newcomer", "add-role": "viewer"},
    "runs:project-create": lambda w: {"name": "Docking"},
    "runs:experiment-create": lambda w: {"name": "Sweep", "workflow_source": "chem.py"},
    "runs:run-launch": lambda w: {"profile": "", "overrides": "", "params": ""},
    "runs:run-launch-preview": lambda w: {"profile": "", "overrides": "", "params": ""},
    "runs:run-clone": lambda w: {"overrides": ""},
    "workspace-detail": lambda w: {"storage_quota_bytes": 10**12},
    "asset-detail": lambda w: {"tags": ["reviewed"], "description": "checked"},
    "asset-alias": lambda w: {"alias": "paper"},
    "assets:asset-alias": lambda w: {"alias": "paper"},
    "assets:asset-edit": lambda w: {"tags": "reviewed", "description": "checked"},
    # SPEC §14 edits: rename/describe/archive, run tags and notes, retention policies.
    "project-detail": lambda w: {"description": "checked"},
    "experiment-detail": lambda w: {"description": "checked"},
    "run-detail": lambda w: {"tags": ["reviewed"], "notes": "checked"},
    "runs:workspace-edit": lambda w: {"action": "save", "name": "Lab", "description": "checked"},
    "runs:project-edit": lambda w: {"action": "save", "name": "Project", "description": "checked"},
    "runs:experiment-edit": lambda w: {"action": "save", "name": "Experiment", "description": "checked"},
    "runs:run-notes": lambda w: {"tags": "reviewed", "notes": "checked"},
    "workspace-retention": lambda w: {"enabled": False, "keep_last_checkpoints": 3},
    "workspace-retention-preview": lambda w: {"keep_last_checkpoints": 3},
    "assets:retention": lambda w: {"action": "preview", "keep_last_checkpoints": "3"},
}

ROUTES = [r for r in all_routes() if r.name not in SKIPPED]
CASES = [(route, verb) for route in ROUTES for verb in VERBS]
TUS_HEADERS = {"HTTP_TUS_RESUMABLE": "1.0.0"}


def _call(world, actor: str, route, verb: str, url: str):
    """One request, rolled back afterwards: each actor meets the same world (an owner's DELETE moves
    things into the trash, a purge removes rows; the next actor must still find them)."""
    client = _walk_client(world, actor, api=route.is_api)
    with transaction.atomic():
        response = _request(client, world, route, verb, url)
        transaction.set_rollback(True)
    return response


def _walk_client(world, actor: str, *, api: bool):
    """``client_for(world, actor)``, made once per test and reset before every request to what a fresh
    one sends: the actor's session cookie only (the world's, made by ``force_login``), the session read
    from its row (a request's session writes were rolled back with it; the cache may still hold them).
    The walk makes thousands of requests: a login and a new client (middleware chain) per request were
    half its time.
    """
    clients = world.extra.setdefault("walk_clients", {})
    if (actor, api) not in clients:
        if api or actor == "anonymous":
            client, cookies = client_for(world, actor, api=api), {}
        else:  # signed in with the world's session of this actor (tests/security/conftest.py, _sign_in)
            client, cookies = Client(), {settings.SESSION_COOKIE_NAME: world.extra["sessions"][actor]}
        clients[actor, api] = (client, cookies)
    client, cookies = clients[actor, api]
    client.cookies = SimpleCookie(cookies)
    session_key = cookies.get(settings.SESSION_COOKIE_NAME)
    if session_key:
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        caches[settings.SESSION_CACHE_ALIAS].delete(store.cache_key)
    return client


def _request(client, world, route, verb: str, url: str):
    body = BODIES.get(route.name, lambda w: {})(world) if verb in WRITES else None
    if route.is_api:
        extra = dict(TUS_HEADERS)
        if verb == "get":
            return client.get(url, **extra)
        return getattr(client, verb)(url, body, format="json", **extra)
    if verb == "get":
        return client.get(url)
    if verb == "post":
        return client.post(url, body)
    return client.generic(verb.upper(), url, json.dumps(body), content_type="application/json")


def _text(response) -> str:
    if getattr(response, "streaming", False):
        return ""
    return response.content.decode("utf-8", errors="replace").lower()


#: Words naming a page whose GET is the form of a write (a new route like ``/w/<ws>/import/`` is one).
WRITE_FORM_WORDS = ("create", "new", "launch", "import", "upload", "edit", "delete")


def _is_write_form(route) -> bool:
    return route.name in EDITOR_FORMS or any(word in route.name or f"/{word}" in route.id for word in WRITE_FORM_WORDS)


def _looks_missing(world, actor, route, verb, response) -> bool:
    """Whether a member's 404 is the very answer a nonexistent object gets (the object is hidden from them).

    A route may answer 404 about a visible object for its own reason (``"this run is not
    a reproduction"``); only the generic "no such object" answer means the member cannot see it.
    """
    missing = _call(world, actor, route, verb, build_url(route, fill_kwargs(route, world, missing=True)))
    return missing.status_code == 404 and _text(missing) == _text(response)


def _is_public(route, verb: str) -> bool:
    verbs = PUBLIC.get(route.name, ())
    return route.name in PUBLIC and (verbs is None or verb in verbs)


def test_the_walk_finds_every_known_route():
    """Guards the walk itself: the routes of both apps and the API are enumerated."""
    names = {r.name for r in all_routes()}
    for expected in (
        "runs:dashboard",
        "runs:run-detail",
        "assets:asset-download",
        "assets:library-experiment",
        "run-cancel",
        "tus-upload-detail",
        "asset-lineage",
        "workspace-member",
        "workspace-usage",
        "audit-list",
        "asset-alias",
        "runs:workspace-audit",
        "runs:experiment-charts",
        "run-series",
        "runs:workspace-edit",
        "runs:project-edit",
        "runs:experiment-edit",
        "runs:run-notes",
        "workspace-retention",
        "workspace-retention-preview",
        "assets:retention",
        "healthz",
        "metrics",
    ):
        assert expected in names
    assert len(ROUTES) >= 55


@pytest.mark.parametrize(("route", "verb"), CASES, ids=[f"{r.id}-{v}" for r, v in CASES])
def test_route_verb_answers_every_actor(world, route, verb):
    url = build_url(route, fill_kwargs(route, world))
    has_objects = bool(route.kwargs)
    statuses = {}
    # Outsider and anonymous first, then members by increasing role (an owner's DELETE comes last).
    for actor in ("outsider", "anonymous", "viewer", "staff", "editor", "owner"):
        response = _call(world, actor, route, verb, url)
        status = response.status_code
        statuses[actor] = status
        where = f"{actor} {verb.upper()} {url} → {status}: {_text(response)[:300]}"
        assert status < 500, where
        if actor in ("outsider", "anonymous") and 200 <= status < 300:
            leaked = [w for w in SECRET_WORDS if w in _text(response)]
            assert not leaked, f"{where} leaks {leaked}"
        if _is_public(route, verb):
            continue

        if actor == "anonymous":
            assert not 200 <= status < 300, where
            if route.is_api:
                assert status == 401, where
            else:
                assert status in (302, 405), where
                if status == 302 or verb == "get":
                    assert status == 302 and response["Location"].startswith("/accounts/login/"), where
        elif actor == "outsider":
            if has_objects:
                assert status not in (200, 201, 202, 204, 206, 286, 301, 302, 303, 403), where
                missing = build_url(route, fill_kwargs(route, world, missing=True))
                assert _call(world, actor, route, verb, missing).status_code == status, (
                    f"{where}: differs from a nonexistent object's status (existence leak)"
                )
        elif actor == "viewer":
            if verb == "get":
                if route.name in EDITOR_FORMS or route.name in OWNER_READS:
                    assert status == 403, where
                elif route.name not in PRIVATE:
                    assert status != 401 and (status != 403 or _is_write_form(route)), where
                    if status == 404:
                        assert not _looks_missing(world, actor, route, verb, response), where
            elif (route.name, verb) not in ANY_MEMBER_WRITES:
                assert status >= 400, where
        else:  # editor, owner, staff
            private = route.name in PRIVATE and actor not in (PRIVATE[route.name], "staff")
            if has_objects and status == 404 and not private:
                assert not _looks_missing(world, actor, route, verb, response), (
                    f"{where}: a member is told 'no such object'"
                )
            if verb == "get" and not private:
                if route.name in OWNER_READS and actor == "editor":
                    assert status == 403, where
                else:
                    assert status not in (401, 403), where


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.kwargs and ("asset" in r.template or "run" in r.template)], ids=lambda r: r.id
)
def test_every_asset_kind_is_hidden_from_outsiders_and_anonymous(world, route):
    """Routes naming an asset (or a run) by id, once per asset kind: 404 / login for non-members."""
    for kind in world.assets:
        url = build_url(route, fill_kwargs(route, world, asset=kind))
        outsider = _call(world, "outsider", route, "get", url)
        anonymous = _call(world, "anonymous", route, "get", url)
        viewer = _call(world, "viewer", route, "get", url)
        assert outsider.status_code in (404, 405), (kind, url, outsider.status_code)
        assert anonymous.status_code in (302, 401, 405), (kind, url, anonymous.status_code)
        assert viewer.status_code < 500


@pytest.mark.parametrize("actor", ["owner", "editor", "viewer", "staff", "outsider", "anonymous"])
def test_run_series_names_its_experiment_by_query_and_checks_membership(world, actor):
    """``/api/runs/series/?experiment=`` names lab's experiment in the query, which the walk cannot
    see: members read it, an outsider gets the 404 of a nonexistent experiment, anonymous a 401."""
    client = client_for(world, actor, api=True)
    response = client.get("/api/runs/series/", {"experiment": world.experiment.pk})
    missing = client.get("/api/runs/series/", {"experiment": 10**9})
    if actor == "anonymous":
        assert response.status_code == 401
    elif actor == "outsider":
        assert response.status_code == missing.status_code == 404
        assert not any(w in _text(response) for w in SECRET_WORDS)
    else:
        assert response.status_code == 200, response.content[:300]
        assert response.json()["experiment"]["id"] == world.experiment.pk
        assert missing.status_code == 404


# --- objects in the trash (SPEC §14) ----------------------------------------------------------------

#: The trash itself: its owners still reach a workspace in the trash there (tested below).
TRASH_ROUTES = {"runs:workspace-trash", "runs:trash-restore", "runs:trash-purge", "trash-list", "trash-detail",
                "trash-restore"}  # fmt: skip
#: What a URL names, by the part of its template: under a trashed experiment, under a trashed workspace.
UNDER_EXPERIMENT = re.compile(r"(runs/<(pk|run_pk)>|assets/<pk>|experiments/<pk>|<experiment>)")
UNDER_WORKSPACE = re.compile(r"(<ws>|workspaces/<(pk|workspace_pk)>|projects/<pk>|<project>)")


def _named_under(target: str) -> list:
    routes = [r for r in ROUTES if r.kwargs and r.name not in TRASH_ROUTES]
    return [r for r in routes if UNDER_EXPERIMENT.search(r.template)
            or (target == "workspace" and UNDER_WORKSPACE.search(r.template))]  # fmt: skip


@pytest.mark.parametrize("target", ["experiment", "workspace"])
def test_trashed_objects_answer_404_to_everyone(world, target):
    """Once in the trash, an experiment (its runs, their assets) or a whole workspace is 'no such object'
    on every page, API route and download, for every actor and verb; only the trash routes still reach it."""
    from runs_app.services import object_delete

    object_delete(user=world.users["owner"], obj=getattr(world, "ws" if target == "workspace" else target))
    routes = _named_under(target)
    assert len(routes) >= (40 if target == "workspace" else 25)
    for route in routes:
        url = build_url(route, fill_kwargs(route, world, asset="artifact"))
        for verb in VERBS:
            for actor in ("outsider", "anonymous", "viewer", "editor", "owner", "staff"):
                response = _call(world, actor, route, verb, url)
                where = f"{actor} {verb.upper()} {url} → {response.status_code}: {_text(response)[:200]}"
                if actor == "anonymous":
                    assert response.status_code in (302, 401, 405), where
                else:
                    assert response.status_code in (404, 405), where
    owner = client_for(world, "owner", api=False)
    assert owner.get("/w/lab/trash/").status_code == 200
    api = client_for(world, "owner", api=True)
    assert api.get(f"/api/trash/?workspace={world.ws.pk}").json()["count"] == 2


@pytest.mark.parametrize("path", ["/api/nope/", "/api/runs/1/nope/", "/api/../etc/passwd", "/api/%2e%2e/"])
@pytest.mark.parametrize("actor", ["owner", "outsider", "anonymous"])
def test_unknown_api_paths_are_json_404(world, path, actor):
    response = client_for(world, actor, api=True).get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("actor", ["owner", "editor", "viewer", "outsider"])
def test_admin_is_closed_to_non_staff(world, actor):
    """The admin (skipped by the walk) sends every non-staff user to its login page."""
    response = client_for(world, actor, api=False).get("/admin/runs_app/run/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    staff = client_for(world, "staff", api=False)
    # Django's admin needs is_staff plus model permissions: a bare staff user sees no rows either.
    assert staff.get("/admin/runs_app/run/").status_code in (200, 403)


# --- foreign-key injection ------------------------------------------------------------------------


def _counts():
    return (
        Project.objects.count(),
        Experiment.objects.count(),
        Run.objects.count(),
        Membership.objects.count(),
        Asset.objects.count(),
        Upload.objects.count(),
    )


def _meta(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


INJECTIONS = [
    # (id, actor, method, url, body) — all point at rows of the workspace the actor is not in.
    ("project-in-foreign-ws", "editor", "post", "/api/projects/", lambda w: {"workspace": w.other_ws.pk, "name": "X"}),
    (
        "experiment-in-foreign-project",
        "editor",
        "post",
        "/api/experiments/",
        lambda w: {"project": w.other_project.pk, "name": "X", "workflow_source": "chem.py"},
    ),
    (
        "experiment-of-outsider-into-lab",
        "outsider",
        "post",
        "/api/experiments/",
        lambda w: {"project": w.project.pk, "name": "X", "workflow_source": "chem.py"},
    ),
    ("launch-foreign-experiment", "editor", "post", "/api/experiments/{oe}/launch/", lambda w: {"params": {}}),
    ("launch-lab-as-outsider", "outsider", "post", "/api/experiments/{e}/launch/", lambda w: {"params": {}}),
    ("preview-foreign-experiment", "editor", "post", "/api/experiments/{oe}/launch-preview/", lambda w: {}),
    (
        "member-into-foreign-ws",
        "editor",
        "post",
        "/api/workspaces/{ows}/members/",
        lambda w: {"username": "editor", "role": "owner"},
    ),
    (
        "outsider-adds-self-to-lab",
        "outsider",
        "post",
        "/api/workspaces/{ws}/members/",
        lambda w: {"username": "outsider", "role": "owner"},
    ),
    ("remove-foreign-member", "owner", "delete", "/api/workspaces/{ows}/members/outsider/", None),
    ("cancel-foreign-run", "editor", "post", "/api/runs/{orun}/cancel/", None),
    ("rerun-foreign-run", "owner", "post", "/api/runs/{orun}/rerun/", None),
    ("clone-foreign-run", "owner", "post", "/api/runs/{orun}/clone/", lambda w: {}),
    (
        "project-id-as-string-of-foreign",
        "owner",
        "post",
        "/api/projects/",
        lambda w: {"workspace": str(w.other_ws.pk), "name": "X"},
    ),
    (
        "project-with-list-of-ws",
        "owner",
        "post",
        "/api/projects/",
        lambda w: {"workspace": [w.other_ws.pk], "name": "X"},
    ),
]


def _fill(url: str, w) -> str:
    return url.format(ws=w.ws.pk, ows=w.other_ws.pk, e=w.experiment.pk, oe=w.other_experiment.pk, orun=w.other_run.pk)


@pytest.mark.parametrize(("case", "actor", "method", "url", "body"), INJECTIONS, ids=[c[0] for c in INJECTIONS])
def test_foreign_key_injection_is_refused_and_creates_nothing(world, case, actor, method, url, body):
    client = client_for(world, actor, api=True)
    before = _counts()
    roles = list(Membership.objects.order_by("pk").values_list("workspace_id", "user_id", "role"))
    payload = body(world) if body else None
    response = getattr(client, method)(_fill(url, world), payload, format="json")
    assert response.status_code in (400, 404), (response.status_code, response.content[:300])
    assert "detail" in response.json()
    assert _counts() == before
    assert list(Membership.objects.order_by("pk").values_list("workspace_id", "user_id", "role")) == roles
    world.other_run.refresh_from_db()
    assert world.other_run.status == "succeeded"


@pytest.mark.parametrize(
    ("key", "target"),
    [("workspace", "other_ws"), ("project", "other_project"), ("experiment", "other_experiment")],
)
def test_upload_metadata_naming_foreign_rows_is_refused(world, key, target):
    client = client_for(world, "editor", api=True)
    pairs = {"filename": "x.csv", "workspace": str(world.ws.pk)}
    pairs[key] = str(getattr(world, target).pk)
    before = _counts()
    response = client.post("/api/uploads/", HTTP_UPLOAD_LENGTH="4", HTTP_UPLOAD_METADATA=_meta(**pairs), **TUS_HEADERS)
    assert response.status_code in (400, 404), response.content
    assert _counts() == before


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/w/elsewhere/p/new/", {"name": "Injected"}),
        ("/w/elsewhere/p/secret/e/new/", {"name": "Injected", "workflow_source": "chem.py"}),
        ("/w/elsewhere/members/", {"action": "add", "add-username": "editor", "add-role": "owner"}),
        ("/w/elsewhere/p/secret/e/hidden/launch/", {"profile": ""}),
        ("/runs/{orun}/rerun/", {}),
        ("/runs/{orun}/clone/", {}),
        # A lab slug path naming the foreign project: the parent chain must match.
        ("/w/lab/p/secret/e/new/", {"name": "Injected", "workflow_source": "chem.py"}),
        ("/w/lab/p/secret/e/hidden/launch/", {"profile": ""}),
    ],
)
def test_page_forms_pointing_at_foreign_rows_are_404(world, url, data):
    client = client_for(world, "owner", api=False)
    before = _counts()
    response = client.post(_fill(url, world), data)
    assert response.status_code == 404, response.status_code
    assert _counts() == before
