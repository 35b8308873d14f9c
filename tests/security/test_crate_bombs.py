"""Every zip/JSON input, with bombs and huge members (issue 12, finding 2): a clear 400, nothing registered.

The crate import is the server's zip and JSON input. Each case below is a crate
that passes every checksum (re-signed as an attacker would) and attacks one bound:
compression ratio per entry and in total, uncompressed sizes, entry count, the
JSON budget and nesting, the workflow source size, counts of events, metrics and
assets, and malformed fields that used to raise (500). Each is refused before a
byte is stored: no rows and no new blob files. One test measures the import's
peak memory against the bound documented in docs/security.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from assets_app.models import Asset
from runs_app.models import Execution, Metric, Project, Run, RunEvent
from tests.assets_app import crate_support as cs
from tests.assets_app.crate_support import export_bytes, resign, workflow_member, zip_members

_no_broker, chem_experiment = cs._no_broker, cs.chem_experiment
finished_run = cs.finished_run

pytestmark = pytest.mark.django_db(transaction=True)


def _counts():
    return (Run.objects.count(), Execution.objects.count(), Asset.objects.count(), Project.objects.count(),
            RunEvent.objects.count(), Metric.objects.count())  # fmt: skip


def _blob_files(settings) -> set[str]:
    root = Path(settings.MEDIA_ROOT)
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _events(n: int) -> bytes:
    return json.dumps(
        [
            {
                "execution": 1,
                "subject": "run",
                "from_status": "queued",
                "to_status": "running",
                "message": f"e{i}",
                "created_at": "2026-12-06T17:00:00+00:00",
            }
            for i in range(n)
        ]  # fmt: skip
    ).encode()


def _metrics(n: int) -> bytes:
    return json.dumps(
        [
            {"execution": 1, "key": "loss", "step": i, "value": i / 7, "created_at": "2026-12-06T17:00:00+00:00"}
            for i in range(n)
        ]  # fmt: skip
    ).encode()


def _many_small_bombs(data: bytes) -> bytes:
    """Many entries each 200 KiB of zeros (under the old 1 MiB skip): every one is a bomb."""
    return resign(data, add={f"outputs/z{i}.bin": b"\0" * (200 * 1024) for i in range(50)})


def _nested(data: bytes) -> bytes:
    """The run record nested 100 000 levels deep (stored uncompressed so only the nesting is wrong)."""
    return resign(data, replace={cs.RECORD: b"[" * 100_000 + b"]" * 100_000}, stored=(cs.RECORD,))


def _nested_moderately(data: bytes) -> bytes:
    """Deeper than MAX_JSON_DEPTH but within Python's parser: refused by the depth check."""
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]

    def edit(rec):
        rec["run"]["params"] = deep

    return resign(data, record=edit)


def _huge_source(data: bytes) -> bytes:
    name = workflow_member(data)
    source = os.urandom(3 * 1024 * 1024).hex().encode()[: 3 * 1024 * 1024]

    def edit(rec):
        rec["workflow"]["sha256"] = hashlib.sha256(source).hexdigest()

    return resign(data, replace={name: source}, record=edit, stored=(name,))


def _bad_types(field: str):
    def build(data: bytes) -> bytes:
        def edit(rec):
            if field == "workflow":
                rec["workflow"] = ["not", "a", "dict"]
            elif field == "event-execution":
                pass
            elif field == "execution-number":
                rec["executions"][0]["number"] = "not-a-number"
            elif field == "asset-path":
                rec["assets"][0]["path"] = ["x"]
            elif field == "execution-not-object":
                rec["executions"].append("nope")

        replace = {}
        if field == "event-execution":
            replace["events.json"] = json.dumps([{"execution": [1], "subject": "run", "created_at": 12}]).encode()
        return resign(data, record=edit, replace=replace)

    return build


CASES = {
    "many-small-bombs": (_many_small_bombs, "zip bomb guard"),
    "one-bomb-under-the-old-skip": (
        lambda d: resign(d, add={"outputs/z.bin": b"\0" * (900 * 1024)}),
        "zip bomb guard",
    ),
    "nested-json-100k": (_nested, "nests too deeply"),
    "nested-json-200": (_nested_moderately, "nests deeper than"),
    "huge-source": (_huge_source, "MOLEXP_CRATE_MAX_SOURCE_BYTES"),
    "200k-events": (lambda d: resign(d, replace={"events.json": _events(200_000)}), "MOLEXP_CRATE_MAX_EVENTS"),
    "200k-metrics": (lambda d: resign(d, replace={"metrics.json": _metrics(200_000)}), "MOLEXP_CRATE_MAX_METRICS"),
    "workflow-not-a-dict": (_bad_types("workflow"), "malformed"),
    "event-time-a-number": (_bad_types("event-execution"), "Bad timestamp"),
    "execution-number-text": (_bad_types("execution-number"), "malformed"),
    "asset-path-a-list": (_bad_types("asset-path"), "malformed"),
    "execution-not-an-object": (_bad_types("execution-not-object"), "malformed"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bomb_is_refused_with_400_and_registers_nothing(case, finished_run, viewer, api_client_for, other_ws,
                                                        settings):  # fmt: skip
    build, expected = CASES[case]
    crate = build(export_bytes(finished_run, viewer))
    counts, files = _counts(), _blob_files(settings)
    response = api_client_for("outsider").post(
        f"/api/workspaces/{other_ws.pk}/import/", {"file": io.BytesIO(crate)}, format="multipart"
    )
    assert response.status_code == 400, response.content[:500]
    detail = response.json()["detail"]
    assert detail.startswith("file: Refused crate:") and expected in detail, detail
    assert _counts() == counts
    assert _blob_files(settings) == files  # refused before a byte was stored


def _import(crate: bytes, user, workspace):
    from runs_app.crate import crate_import

    return crate_import(user=user, workspace=workspace, fileobj=io.BytesIO(crate))


def test_total_ratio_catches_what_each_entry_hides(finished_run, viewer, outsider, other_ws, settings):
    """Many tiny all-zero entries each within the per-entry slack: the crate as a whole is still a bomb."""
    from django.core.exceptions import ValidationError

    settings.MOLEXP_CRATE_MAX_RATIO = 20
    crate = resign(
        export_bytes(finished_run, viewer),
        add={f"outputs/t{i}.bin": (b"%d" % i).ljust(4000, b"\0") for i in range(1000)},
    )
    with zipfile.ZipFile(io.BytesIO(crate)) as zf:
        assert all(i.file_size <= 20 * i.compress_size + 4096 for i in zf.infolist())  # each entry passes alone
    with pytest.raises(ValidationError, match="from a .*-byte zip, more than 20×"):
        _import(crate, outsider, other_ws)
    assert not Run.objects.filter(workspace=other_ws).exists()


def test_entry_count_is_bounded(finished_run, viewer, outsider, other_ws, settings):
    from django.core.exceptions import ValidationError

    data = export_bytes(finished_run, viewer)
    settings.MOLEXP_CRATE_MAX_ENTRIES = len(zip_members(data)) - 1
    with pytest.raises(ValidationError, match="MOLEXP_CRATE_MAX_ENTRIES"):
        _import(data, outsider, other_ws)


def test_asset_count_is_bounded(finished_run, viewer, outsider, other_ws, settings):
    from django.core.exceptions import ValidationError

    settings.MOLEXP_CRATE_MAX_ASSETS = 1
    with pytest.raises(ValidationError, match="MOLEXP_CRATE_MAX_ASSETS"):
        _import(export_bytes(finished_run, viewer), outsider, other_ws)
    assert not Run.objects.filter(workspace=other_ws).exists()


def test_json_budget_is_checked_before_reading(finished_run, viewer, outsider, other_ws, settings):
    """A huge JSON member (random, so no ratio guard fires) is refused from its declared size."""
    from django.core.exceptions import ValidationError

    settings.MOLEXP_CRATE_MAX_JSON_BYTES = 256 * 1024
    noise = os.urandom(200 * 1024).hex()

    def edit(rec):
        rec["experiment"]["description"] = noise

    with pytest.raises(ValidationError, match="MOLEXP_CRATE_MAX_JSON_BYTES"):
        _import(resign(export_bytes(finished_run, viewer), record=edit), outsider, other_ws)


def test_huge_declared_json_member_is_refused_unread(finished_run, viewer, outsider, other_ws):
    """The central directory claims a 64 GiB metadata file: refused from the declaration alone."""
    from django.core.exceptions import ValidationError

    out = io.BytesIO(export_bytes(finished_run, viewer))
    with zipfile.ZipFile(out, "a") as zf:
        for info in zf.filelist:
            if info.filename == cs.METADATA:
                info.file_size = 64 * 1024**3
        zf._didModify = True  # rewrite the central directory with the lie
    with pytest.raises(ValidationError, match="MOLEXP_CRATE_MAX_FILE_BYTES|MOLEXP_CRATE_MAX_JSON_BYTES"):
        _import(out.getvalue(), outsider, other_ws)


def test_limits_accept_an_ordinary_crate_with_many_rows(finished_run, viewer, outsider, other_ws):
    """The bounds are not in the way of a real record: 10 000 events and 100 000 metric points import."""
    crate = resign(
        export_bytes(finished_run, viewer), replace={"events.json": _events(10_000), "metrics.json": _metrics(100_000)}
    )
    tracemalloc.start()
    try:
        run = _import(crate, outsider, other_ws).run
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert RunEvent.objects.filter(run=run).count() == 10_000
    assert Metric.objects.filter(run=run).count() == 100_000
    json_bytes = sum(len(v) for k, v in zip_members(crate).items() if k.endswith(".json"))
    # docs/security.md: peak memory of an import ≈ 10 × its JSON bytes + the rows (≈ 1 KiB each).
    assert peak < 10 * json_bytes + 110_000 * 1024, (peak, json_bytes)
