"""The text/plain log batch of external runs (SPEC §13, the client's fast path): the body is the log
segment as it comes; order, counts, idempotent resends and bad input behave as the JSON batch."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from assets_app.models import Asset
from assets_app.services import log_finalize, log_tail
from runs_app.services import external as svc


@pytest.fixture
def api(editor):
    client = APIClient()
    client.force_authenticate(editor)
    return client


@pytest.fixture
def run_id(db, api, ws, project):
    body = {"experiment": f"{ws.slug}/{project.slug}/ext", "run_uuid": str(uuid.uuid4()), "create_experiment": True}
    return api.post("/api/external/runs/", body, format="json").json()["id"]


def _post(api, run_id, body: bytes, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.generic("POST", f"/api/external/runs/{run_id}/logs/?{query}", body,
                       content_type="text/plain; charset=utf-8")  # fmt: skip


def _log(name="train") -> Asset:
    return Asset.objects.get(kind="log", name=name).as_kind()


def test_text_batches_append_in_order_and_count_lines(api, run_id):
    first = _post(api, run_id, "épreuve 1\nline 2\n".encode(), name="train", seq=1)
    assert first.status_code == 200, first.content
    assert first.json() == {"lines": 2, "duplicate": False}
    second = _post(api, run_id, b"line 3\nlast without newline", name="train", seq=2)
    assert second.json() == {"lines": 2, "duplicate": False}
    # the JSON batch writes the same log, after them
    assert api.post(f"/api/external/runs/{run_id}/logs/", {"logs": {"train": ["json line"]}, "seq": 3},
                    format="json").json() == {"lines": 1, "duplicate": False}  # fmt: skip
    log = _log()
    assert log.line_count == 5
    assert log_tail(asset=log) == ["épreuve 1", "line 2", "line 3", "last without newline", "json line"]
    assert log_finalize(asset=log)
    log.refresh_from_db()
    assert log.size == len("épreuve 1\nline 2\nline 3\nlast without newline\njson line\n".encode())


def test_a_resent_text_batch_is_applied_once(api, run_id):
    for _ in range(2):
        response = _post(api, run_id, b"a\nb\n", name="train", seq=7)
        assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert _log().line_count == 2
    assert _post(api, run_id, b"c\n", name="train", seq=3).json()["duplicate"] is True  # older than the last
    assert _log().line_count == 2


def test_a_failed_batch_does_not_take_its_seq(api, run_id, monkeypatch):
    """The seq is claimed in the write's transaction: a write that fails leaves it free for the resend."""
    from assets_app import services as asset_services

    real = asset_services.log_append_payload

    def broken(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(asset_services, "log_append_payload", broken)
    with pytest.raises(OSError):
        _post(api, run_id, b"a\nb\n", name="train", seq=4)
    monkeypatch.setattr(asset_services, "log_append_payload", real)
    response = _post(api, run_id, b"a\nb\n", name="train", seq=4)
    assert response.json() == {"lines": 2, "duplicate": False}
    assert _log().line_count == 2


@pytest.mark.parametrize(
    ("body", "params", "status"),
    [
        (b"\xff\xfe not utf-8\n", {"name": "train"}, 400),
        (b"x\n", {}, 400),  # no name
        (b"x\n", {"name": "a" * 300}, 400),
        (b"x\n", {"name": "train", "seq": "abc"}, 400),
    ],
)
def test_bad_text_batches_write_nothing(api, run_id, body, params, status):
    response = _post(api, run_id, body, **params)
    assert response.status_code == status, response.content
    assert "detail" in response.json() or response.json()
    assert not Asset.objects.filter(kind="log").exists()


def test_a_text_batch_over_the_limit_is_413(api, run_id, monkeypatch):
    monkeypatch.setattr(svc, "MAX_LOG_TEXT_BYTES", 10)
    response = _post(api, run_id, b"0123456789\n", name="train")
    assert response.status_code == 413
    assert "at most 10 bytes" in response.json()["detail"]
    assert not Asset.objects.filter(kind="log").exists()
    assert _post(api, run_id, b"012345678\n", name="train").status_code == 200


def test_text_batches_to_a_finished_run_or_from_others_are_refused(api, run_id, outsider, viewer):
    for user, status in ((outsider, 404), (viewer, 403)):
        other = APIClient()
        other.force_authenticate(user)
        assert _post(other, run_id, b"x\n", name="train").status_code == status
    assert api.post(f"/api/external/runs/{run_id}/finish/", {"status": "succeeded"}, format="json").status_code == 200
    assert _post(api, run_id, b"x\n", name="train").status_code == 409
    assert not Asset.objects.filter(kind="log").exists()
