"""Operations models: the heartbeats ``/healthz`` and ``/metrics`` read (docs/operations.md)."""

from __future__ import annotations

from django.db import models


class ServiceHeartbeat(models.Model):
    """The last sign of life of a Celery worker or of the periodic maintenance (read by /healthz and /metrics).

    A worker's row (``kind="worker"``, ``name`` = its Celery hostname) is written every
    ``MOLEXP_HEARTBEAT_SECONDS`` by a thread of its main process and deleted on a warm
    shutdown; the maintenance task writes ``kind="maintenance"`` after every run, which
    proves that beat sends it and a worker of the default queue runs it.
    """

    class Kind(models.TextChoices):
        WORKER = "worker", "Worker"
        MAINTENANCE = "maintenance", "Maintenance"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    name = models.CharField(max_length=255)
    queues = models.CharField(max_length=255, blank=True, help_text="Comma-separated queues a worker consumes.")
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="serviceheartbeat_unique_kind_name")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
