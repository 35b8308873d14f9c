"""Amplification of every write endpoint (issue 12, deliverable 3; docs/security.md "Request limits").

The write routes are enumerated from the URLconf (``all_routes``), so a route
added tomorrow is measured the day it lands. Each (route, write verb) is called
by the workspace owner with a *large but allowed* request: a valid body for the
routes this file knows (``LARGE_BODIES``, stored fields near their bounds) and,
for every other route, a body padded with an unknown field. The server must
store (database rows, counted field by field, plus files under the media and
upload folders) and answer at most

    MULTIPLE × request bytes + FIXED_BYTES + runs created × PER_RUN_BYTES

where ``PER_RUN_BYTES`` is the documented per-run allowance plus the run's
server-side data (config from molcfg.yaml, the snapshot) and its fixed rows.
The known bodies must succeed, so the bound is measured on real writes; the
reproduction of the issue (a 2 MB value in a 100-cell sweep, ~390 MB stored) is
the last case and is refused with nothing stored.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models

from runs_app.models import Run
from runs_app.services import launch_plan

from .conftest import all_routes, build_url, client_for, fill_kwargs

#: Documented in docs/security.md, "Request limits".
MULTIPLE = 10
FIXED_BYTES = 64 * 1024
RUN_ROWS_BYTES = 4 * 1024  # an execution, two status events and the run's own columns

WRITES = ("post", "put", "patch", "delete")
PADDING = "p" * 200_000
BIG = 60_000  # under MOLEXP_LAUNCH_MAX_VALUE_BYTES (64 KiB)

#: Large but allowed bodies of the write routes; they must be accepted (status < 400).
LARGE_BODIES = {
    "workspace-list": lambda w: {"name": "N" * 200, "description": "d" * BIG},
    "workspace-members": lambda w: {"username": "newcomer", "role": "viewer", "padding": PADDING},
    "project-list": lambda w: {"workspace": w.ws.pk, "name": "P" * 200, "description": "d" * BIG},
    "experiment-list": lambda w: {
        "project": w.project.pk,
        "name": "E" * 200,
        "workflow_source": "chem.py",
        "description": "d" * BIG,
    },  # fmt: skip
    "experiment-launch": lambda w: {"overrides": ["note=" + "o" * BIG], "params": {"blob": "x" * BIG}},
    "experiment-launch-preview": lambda w: {"overrides": ["note=" + "o" * BIG], "params": {"blob": "x" * BIG}},
    "run-clone": lambda w: {"overrides": ["note=" + "z" * BIG]},
    "runs:workspace-create": lambda w: {"name": "Spectra " + "n" * 150, "description": "d" * BIG},
    "runs:workspace-members": lambda w: {"action": "add", "add-username": "newcomer", "add-role": "viewer"},
    "runs:project-create": lambda w: {"name": "Docking " + "n" * 150, "description": "d" * BIG},
    "runs:experiment-create": lambda w: {"name": "Sweep", "workflow_source": "chem.py", "description": "d" * BIG},
    "runs:run-launch": lambda w: {
        "profile": "",
        "overrides": "note=" + "o" * BIG,
        "params": json.dumps({"blob": "x" * BIG}),
    },  # fmt: skip
    "runs:run-launch-preview": lambda w: {"profile": "", "overrides": "note=" + "o" * BIG, "params": ""},
    "runs:run-clone": lambda w: {"overrides": "note=" + "z" * BIG},
}
#: Known bodies that may be refused for a reason other than size (the world's run is failed, not cloneable).
MAY_REFUSE = {"run-clone", "runs:run-clone"}

ROUTES = [r for r in all_routes() if r.name != "api-not-found"]
CASES = [(route, verb) for route in ROUTES for verb in WRITES]


def _size(value) -> int:
    if value is None:
        return 0
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(bytes(value))
    if isinstance(value, (dict, list)):
        return len(json.dumps(value, ensure_ascii=False, default=str).encode())
    return len(str(value).encode())


def _folder_bytes(root) -> int:
    root = Path(root)
    if not root.exists():
        return 0
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


#: Per model: the compiler of ``values_list(<every stored column>)`` and its SQL, built once per process.
_READERS: dict = {}


def _stored_rows(model):
    """``model._base_manager.values_list(<every column but the auto id>)``, rows as the ORM returns them.

    The query is compiled once: ``stored_bytes`` reads every model twice per case, and compiling
    the same ~40 queries again each time was most of this file's CPU. The rows still go through the
    compiler's converters, so each value has the Python type ``values_list`` gives it.
    """
    reader = _READERS.get(model)
    if reader is None:
        columns = [f.attname for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
        compiler = model._base_manager.values_list(*columns).query.get_compiler(DEFAULT_DB_ALIAS)
        reader = _READERS[model] = (compiler, *compiler.as_sql())
    compiler, sql, params = reader
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return compiler.results_iter(results=[rows], tuple_expected=True)


def stored_bytes() -> int:
    """What the server keeps: every column of every row of every model, and the files of the media folder."""
    total = 0
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for row in _stored_rows(model):
            total += sum(_size(v) for v in row)
    total += _folder_bytes(settings.MEDIA_ROOT)
    if settings.MOLEXP_UPLOAD_DIR:
        total += _folder_bytes(settings.MOLEXP_UPLOAD_DIR)
    return total


def _response_bytes(response) -> int:
    if getattr(response, "streaming", False):
        return sum(len(chunk) for chunk in response.streaming_content)
    return len(response.content)


def _send(world, route, verb: str, body: dict):
    """Call the route as the owner; returns (response, request bytes)."""
    url = build_url(route, fill_kwargs(route, world))
    client = client_for(world, "owner", api=route.is_api)
    if route.is_api:
        payload = json.dumps(body).encode()
        response = getattr(client, verb)(url, payload, content_type="application/json", HTTP_TUS_RESUMABLE="1.0.0")
    else:
        payload = urlencode(body).encode()
        response = client.generic(verb.upper(), url, payload, content_type="application/x-www-form-urlencoded")
    return response, len(payload) + len(url)


def _per_run_bytes(world) -> int:
    """The documented per-run allowance plus this world's server-side data of one run (config and snapshot).

    Measured on a plan without overrides or params: only what the workflow folder contributes.
    """
    plan = launch_plan(experiment=world.experiment, capture_git=True)
    server = _size(plan.snapshot) + _size(plan.config)
    return settings.MOLEXP_LAUNCH_RUN_ALLOWANCE_BYTES + RUN_ROWS_BYTES + server


def _assert_bounded(world, label: str, request_bytes: int, stored_growth: int, answered: int, runs: int) -> None:
    allowed = MULTIPLE * request_bytes + FIXED_BYTES + (runs * _per_run_bytes(world) if runs else 0)
    where = f"{label}: request {request_bytes} B, stored {stored_growth} B, answered {answered} B, {runs} runs"
    assert stored_growth <= allowed, f"{where}: stores more than {allowed} B"
    assert answered <= allowed, f"{where}: answers more than {allowed} B"


def test_the_walk_covers_the_write_routes():
    names = {route.name for route in ROUTES}
    assert set(LARGE_BODIES) <= names, set(LARGE_BODIES) - names
    assert {"tus-upload", "tus-upload-detail", "runs:crate-import", "workspace-import"} <= names


@pytest.mark.parametrize(("route", "verb"), CASES, ids=[f"{r.id}-{v}" for r, v in CASES])
def test_each_write_stores_and_answers_a_bounded_multiple_of_the_request(world, route, verb):
    known = route.name in LARGE_BODIES and verb == "post"
    body = LARGE_BODIES[route.name](world) if known else {"padding": PADDING}
    before, runs_before = stored_bytes(), Run.objects.count()
    response, request_bytes = _send(world, route, verb, body)
    answered = _response_bytes(response)
    growth = stored_bytes() - before
    runs = Run.objects.count() - runs_before
    assert response.status_code < 500, (route.id, verb, response.status_code)
    if known and route.name not in MAY_REFUSE:
        assert response.status_code < 400, (route.id, response.status_code, response.content[:500])
    _assert_bounded(world, f"{verb.upper()} {route.id}", request_bytes, growth, answered, runs)


def test_a_sweep_stores_its_shared_request_data_within_the_bound(world):
    """A sweep multiplies: 100 runs from one small request stay within the per-run allowance."""
    route = next(r for r in ROUTES if r.name == "experiment-launch")
    body = {"overrides": ["note=" + "o" * 300], "sweep": {"seed": list(range(100))}}
    before = stored_bytes()
    response, request_bytes = _send(world, route, "post", body)
    assert response.status_code == 201, response.content[:500]
    runs = len(response.json()["runs"])
    assert runs == 100
    _assert_bounded(world, "sweep", request_bytes, stored_bytes() - before, _response_bytes(response), runs)


@pytest.mark.parametrize("value_bytes", [20_000, BIG])
def test_a_sweep_that_would_multiply_a_large_value_is_bounded(world, value_bytes):
    """Values under the per-value bound, repeated in every run of a sweep: refused or stored within the bound."""
    route = next(r for r in ROUTES if r.name == "experiment-launch")
    body = {"overrides": ["note=" + "o" * value_bytes], "sweep": {"seed": list(range(100)), "big": ["b" * BIG]}}
    before, runs_before = stored_bytes(), Run.objects.count()
    response, request_bytes = _send(world, route, "post", body)
    assert response.status_code in (201, 400), response.content[:300]
    runs = Run.objects.count() - runs_before
    _assert_bounded(world, "sweep", request_bytes, stored_bytes() - before, _response_bytes(response), runs)


def test_the_issue_reproduction_stores_nothing(world):
    """One editor request of 2 MB (a 100-cell sweep, one 2 MB value) wrote ~390 MB; now a 400 and nothing."""
    route = next(r for r in ROUTES if r.name == "experiment-launch")
    body = {"overrides": ["blob=" + "x" * (2 * 1024 * 1024)], "sweep": {"seed": list(range(100))}}
    before = stored_bytes()
    response, _ = _send(world, route, "post", body)
    assert response.status_code == 400 and "MOLEXP_LAUNCH_MAX_VALUE_BYTES" in response.json()["detail"]
    assert stored_bytes() == before


def test_a_tus_upload_stores_what_it_is_sent(world):
    """The upload endpoint stores its bytes once (the partial file and one row), never a multiple."""
    client = client_for(world, "editor", api=True)
    data = b"u" * 300_000
    meta = "filename ZGF0YS5jc3Y=,workspace " + __import__("base64").b64encode(str(world.ws.pk).encode()).decode()
    before = stored_bytes()
    created = client.post("/api/uploads/", HTTP_TUS_RESUMABLE="1.0.0", HTTP_UPLOAD_LENGTH=str(len(data)),
                          HTTP_UPLOAD_METADATA=meta)  # fmt: skip
    assert created.status_code == 201, created.content
    patched = client.generic("PATCH", created["Location"], data, content_type="application/offset+octet-stream",
                             HTTP_TUS_RESUMABLE="1.0.0", HTTP_UPLOAD_OFFSET="0")  # fmt: skip
    assert patched.status_code == 204, patched.content
    request_bytes = len(data) + len(meta)
    _assert_bounded(world, "tus", request_bytes, stored_bytes() - before, _response_bytes(patched), 0)


def test_a_crate_import_stores_a_bounded_multiple_of_the_crate(world):
    """A crate exported from the world and imported back: the imported record costs at most the multiple."""
    client = client_for(world, "owner", api=True)
    export = client.get(f"/api/runs/{world.run.pk}/export/")
    assert export.status_code == 200
    crate = b"".join(export.streaming_content)
    before = stored_bytes()
    response = client.post(f"/api/workspaces/{world.ws.pk}/import/", {"file": io.BytesIO(crate)}, format="multipart")
    assert response.status_code == 201, response.content[:500]
    _assert_bounded(world, "crate import", len(crate), stored_bytes() - before, _response_bytes(response), 0)
