"""Refused crates: unsafe zips and tampered files get 400 and create nothing."""

import io
import zipfile

import pytest

from assets_app.models import Asset
from runs_app.models import Execution, Project, Run

from . import crate_support as cs
from .crate_support import export_bytes

_no_broker, chem_experiment, workflow_dir = cs._no_broker, cs.chem_experiment, cs.workflow_dir
finished_run = cs.finished_run

pytestmark = pytest.mark.django_db(transaction=True)


def _rebuild(data: bytes, *, skip=(), replace=None, extra=()) -> bytes:
    """A copy of a crate with members skipped/replaced and extra (ZipInfo or name, bytes) entries added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in skip:
                continue
            payload = (replace or {}).get(info.filename, src.read(info))
            dst.writestr(info.filename, payload)
        for name, payload in extra:
            dst.writestr(name, payload)
    return out.getvalue()


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16) | 0
    return info


def _huge_declared(data: bytes) -> bytes:
    out = io.BytesIO(data)
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("outputs/huge.bin", b"tiny")
        zf.filelist[-1].file_size = 10**13  # the central directory now declares 10 TB
    return out.getvalue()


CASES = {
    "traversal": lambda d: _rebuild(d, extra=[("../evil.txt", b"x")]),
    "nested-traversal": lambda d: _rebuild(d, extra=[("outputs/../../evil.txt", b"x")]),
    "absolute": lambda d: _rebuild(d, extra=[("/etc/evil.txt", b"x")]),
    "windows-absolute": lambda d: _rebuild(d, extra=[("C:/evil.txt", b"x")]),
    "symlink": lambda d: _rebuild(d, extra=[(_symlink("outputs/link"), b"/etc/passwd")]),
    "sha-mismatch": lambda d: _rebuild(d, replace={"config.json": b'{"scale": 99}'}),
    "undeclared-file": lambda d: _rebuild(d, extra=[("outputs/stowaway.bin", b"x")]),
    "missing-file": lambda d: _rebuild(d, skip={"events.json"}),
    "no-metadata": lambda d: _rebuild(d, skip={"ro-crate-metadata.json"}),
    "bad-metadata": lambda d: _rebuild(d, replace={"ro-crate-metadata.json": b"{not json"}),
    "huge-declared-size": _huge_declared,
    "zip-bomb": lambda d: _rebuild(d, extra=[("outputs/zeros.bin", b"\0" * (8 * 1024 * 1024))]),
    "not-a-zip": lambda d: b"PK\x03\x04 definitely not a zip",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malicious_crate_is_refused_and_creates_nothing(case, finished_run, viewer, api_client_for, other_ws):
    crate = CASES[case](export_bytes(finished_run, viewer))
    counts = (Run.objects.count(), Execution.objects.count(), Asset.objects.count(), Project.objects.count())
    response = api_client_for("outsider").post(
        f"/api/workspaces/{other_ws.pk}/import/",
        {"file": io.BytesIO(crate)},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert "Refused crate" in response.json()["detail"]
    assert (Run.objects.count(), Execution.objects.count(), Asset.objects.count(), Project.objects.count()) == counts


def test_total_size_cap(finished_run, viewer, outsider, other_ws, settings):
    from django.core.exceptions import ValidationError

    from runs_app.crate import crate_import

    settings.MOLEXP_CRATE_MAX_TOTAL_BYTES = 1000
    with pytest.raises(ValidationError, match="uncompressed"):
        crate_import(user=outsider, workspace=other_ws, fileobj=io.BytesIO(export_bytes(finished_run, viewer)))
    assert not Run.objects.filter(workspace=other_ws).exists()
