"""Celery adapters of assets_app: each takes ids or nothing and calls one service.

Registered under stable names (``assets.*``); they run on the ``default``
queue, which the Procfile's ``maintenance`` worker consumes.
"""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="assets.maintenance", ignore_result=True)
def upload_sweep_expired_task() -> dict:
    """Periodic (beat, every ``MOLEXP_UPLOAD_SWEEP_INTERVAL`` s): expire abandoned uploads, drop orphan partials."""
    return services.upload_sweep_expired()


@shared_task(name="assets.retention", ignore_result=True)
def retention_apply_enabled_task() -> dict:
    """Periodic (beat, every ``MOLEXP_RETENTION_INTERVAL`` s): apply every enabled retention policy (SPEC §14)."""
    return services.retention_apply_enabled()
