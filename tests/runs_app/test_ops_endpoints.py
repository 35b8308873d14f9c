"""/healthz and /metrics (docs/operations.md, *Health and metrics*): checks, status codes, access, cost."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from runs_app import services
from runs_app.choices import ExecutionStatus, RunStatus
from runs_app.models import ServiceHeartbeat
from runs_app.services.ops import HEALTH_CHECKS, broker_queue_depths
from runs_app.tasks import maintenance_task
from tests import factories as f

FILESYSTEM_BROKER = django_settings.CELERY_BROKER_URL.startswith("filesystem://")


def _alive(*, maintenance: bool = True, queues: str = "default,runs", age: float = 0) -> None:
    """The rows a running stack leaves: a worker's heartbeat and the maintenance's last run."""
    services.heartbeat_record(kind="worker", name="w1@host", queues=queues, restart=True)
    if maintenance:
        services.heartbeat_record(kind="maintenance", name="runs.maintenance")
    if age:
        ServiceHeartbeat.objects.update(seen_at=timezone.now() - timedelta(seconds=age))


def _scrape(client: Client, **extra) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


# --- /healthz ---------------------------------------------------------------------------------


def test_healthz_is_200_when_everything_answers_and_shows_anonymous_only_ok_flags(client, db):
    _alive()
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert list(body["checks"]) == list(HEALTH_CHECKS)
    assert all(check == {"ok": True} for check in body["checks"].values()), body


def test_healthz_is_503_without_workers_or_maintenance_and_names_the_failing_checks(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert response.json()["status"] == "unavailable"
    assert {name for name, check in checks.items() if not check["ok"]} == {"beat", "workers"}


def test_staff_see_details_and_errors_but_never_secrets(client, db, staff):
    _alive(maintenance=False)
    client.force_login(staff)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()["checks"]
    assert "has not run yet" in body["beat"]["error"]
    assert body["workers"]["detail"]["workers"][0]["name"] == "w1@host"
    assert body["workers"]["detail"]["workers"][0]["queues"] == ["default", "runs"]
    assert body["broker"]["detail"]["queues"].keys() == {"runs", "default"}
    assert all(isinstance(check["ms"], float) for check in body.values())
    text = response.content.decode()
    for secret in (django_settings.SECRET_KEY, django_settings.CELERY_BROKER_URL, "password"):
        assert secret not in text


def test_a_stale_worker_or_maintenance_fails_its_check(client, db, settings):
    _alive(age=settings.MOLEXP_LOST_AFTER_SECONDS + 5)
    checks = client.get("/healthz").json()["checks"]
    assert not checks["workers"]["ok"]
    assert checks["beat"]["ok"]  # 50 s is within the maintenance's allowance (4 intervals, at least 60 s)
    ServiceHeartbeat.objects.filter(kind="maintenance").update(
        seen_at=timezone.now() - timedelta(seconds=settings.MOLEXP_HEALTH_MAINTENANCE_MAX_AGE + 1)
    )
    response = client.get("/healthz")
    assert response.status_code == 503 and not response.json()["checks"]["beat"]["ok"]


def test_every_queue_needs_a_live_worker(client, db):
    _alive(queues="runs")
    staff_view = client.get("/healthz")
    assert staff_view.status_code == 503
    assert not staff_view.json()["checks"]["workers"]["ok"]


def test_the_maintenance_task_and_a_worker_write_their_heartbeats(client, db):
    assert client.get("/healthz?check=beat").status_code == 503
    maintenance_task()
    assert client.get("/healthz?check=beat").status_code == 200
    services.worker_heartbeat_start(hostname="thread@host", queues=["runs", "default"])
    try:
        assert client.get("/healthz?check=workers").status_code == 200
    finally:
        services.worker_heartbeat_stop()  # a warm shutdown deletes the row
    assert not ServiceHeartbeat.objects.filter(kind="worker").exists()
    assert client.get("/healthz?check=workers").status_code == 503


def test_checks_can_be_chosen_and_unknown_ones_are_400(client, db):
    response = client.get("/healthz?check=database&check=storage")
    assert response.status_code == 200
    assert list(response.json()["checks"]) == ["database", "storage"]
    bad = client.get("/healthz?check=database&check=<script>")
    assert bad.status_code == 400 and "Unknown check" in bad.json()["detail"]
    assert client.post("/healthz").status_code == 405


def test_a_storage_that_cannot_be_written_fails_the_storage_check(client, db, settings, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(not_a_folder / "media")},
        },
    }
    response = client.get("/healthz?check=storage")
    assert response.status_code == 503 and response.json()["checks"]["storage"] == {"ok": False}


@pytest.mark.skipif(not FILESYSTEM_BROKER, reason="the filesystem broker's folder")
def test_a_missing_broker_folder_fails_the_broker_check(client, db, settings, tmp_path):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        "data_folder_out": str(tmp_path / "gone"),
    }
    response = client.get("/healthz?check=broker")
    assert response.status_code == 503


@pytest.mark.skipif(FILESYSTEM_BROKER, reason="a Redis broker")
def test_a_redis_that_does_not_answer_fails_within_the_timeout():
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - whichever connection error kombu raises
        broker_queue_depths(url="redis://127.0.0.1:1/0")
    assert time.monotonic() - started < 10


def test_healthz_costs_a_bounded_number_of_queries(client, db, django_assert_max_num_queries):
    _alive()
    for number in range(2, 7):  # more workers: still one query
        services.heartbeat_record(kind="worker", name=f"w{number}@host", queues="runs")
    with django_assert_max_num_queries(3):  # SELECT 1, the maintenance row, the workers
        assert client.get("/healthz").status_code == 200


# --- /metrics ---------------------------------------------------------------------------------


def test_metrics_count_runs_by_status_lost_executions_and_queues(client, db, experiment):
    before = _scrape(client)
    f.RunFactory.create_batch(3, experiment=experiment, status=RunStatus.SUCCEEDED)
    lost_run = f.RunFactory(experiment=experiment, status=RunStatus.FAILED)
    f.ExecutionFactory(run=lost_run, status=ExecutionStatus.LOST)
    _alive()
    after = _scrape(client)
    runs = after["molexp_runs"]
    assert runs[(("status", "succeeded"),)] - before["molexp_runs"][(("status", "succeeded"),)] == 3
    assert runs[(("status", "failed"),)] - before["molexp_runs"][(("status", "failed"),)] == 1
    assert set(dict(k)["status"] for k in runs) == set(RunStatus.values)
    assert after["molexp_executions_lost_total"][()] - before["molexp_executions_lost_total"][()] == 1
    assert after["molexp_workers_alive"][()] == 1
    assert after["molexp_maintenance_last_run_timestamp_seconds"][()] > time.time() - 60
    assert after["molexp_broker_up"][()] == 1
    assert {dict(k)["queue"] for k in after["molexp_queue_messages"]} == {"runs", "default"}


def test_request_latency_is_a_histogram_by_route_name(client, db):
    def count(samples):
        key = (("method", "GET"), ("route", "healthz"), ("status", "5xx"))
        return samples.get("molexp_http_request_duration_seconds_count", {}).get(key, 0)

    before = count(_scrape(client))
    client.get("/healthz")
    client.get("/healthz")
    after = _scrape(client)
    assert count(after) - before == 2
    assert any(name == "molexp_http_request_duration_seconds_bucket" for name in after)
    routes = {dict(k)["route"] for k in after["molexp_http_request_duration_seconds_count"]}
    assert "metrics" in routes and not any(r.startswith("/") for r in routes)  # names, never raw paths


def test_tus_patch_bytes_are_counted(client, db, editor, ws, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    api = APIClient()
    api.force_authenticate(user=editor)
    tus = {"HTTP_TUS_RESUMABLE": "1.0.0"}
    before = _scrape(client).get("molexp_upload_bytes_total", {}).get((), 0)
    created = api.post(
        "/api/uploads/",
        HTTP_UPLOAD_LENGTH="3000",
        HTTP_UPLOAD_METADATA=f"filename {_b64('a.bin')},workspace {_b64(ws.pk)}",
        **tus,
    )
    assert created.status_code == 201, created.content
    for offset in (0, 1000, 2000):
        response = api.generic(
            "PATCH", created["Location"], b"z" * 1000, content_type="application/offset+octet-stream",
            HTTP_UPLOAD_OFFSET=str(offset), **tus,
        )  # fmt: skip
        assert response.status_code == 204, response.content
    assert _scrape(client)["molexp_upload_bytes_total"][()] - before == 3000


def _b64(value) -> str:
    import base64

    return base64.b64encode(str(value).encode()).decode()


def test_metrics_scrape_cost_does_not_grow_with_the_data(client, db, experiment, django_assert_max_num_queries):
    f.RunFactory.create_batch(20, experiment=experiment, status=RunStatus.RUNNING)
    _alive()
    with django_assert_max_num_queries(3):  # runs by status, lost executions, heartbeats
        _scrape(client)


# --- who may read /metrics ----------------------------------------------------------------------


def test_metrics_from_loopback_only_when_no_token_is_set(client, db, settings):
    settings.MOLEXP_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    # A reverse proxy on the same machine makes every visitor loopback: its headers refuse.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


def test_metrics_token_is_required_everywhere_once_set(client, db, settings):
    settings.MOLEXP_METRICS_TOKEN = "s3cret-metrics-token"
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert b"s3cret" not in refused.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-metrics-token").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token", REMOTE_ADDR="10.1.2.3")
    assert ok.status_code == 200 and b"molexp_runs" in ok.content


def test_healthz_answers_json_even_for_a_signed_in_non_staff_user(client, db, viewer):
    client.force_login(viewer)
    _alive()
    body = json.loads(client.get("/healthz").content)
    assert all(check == {"ok": True} for check in body["checks"].values())
