"""``/healthz`` and ``/metrics``: what an operator's monitoring reads (docs/operations.md, *Health and metrics*).

``/healthz`` needs no sign-in and shows anonymous callers one ``ok`` per check; staff
(signed in) also get timings, error texts and the workers' list. ``/metrics`` answers a
request with ``Authorization: Bearer <MOLEXP_METRICS_TOKEN>``, or, when no token is
set, a direct loopback client (no proxy headers: a proxy on the same machine would
make every visitor look local).
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from ..services.ops import HEALTH_CHECKS, OpsCollector, health_report

#: Headers a reverse proxy adds: a request carrying one is not a direct local client.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED", "HTTP_X_FORWARDED_PROTO")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every check passes, else 503; ``?check=database&check=broker`` runs only those."""
    wanted = request.GET.getlist("check") or list(HEALTH_CHECKS)
    unknown = sorted({name for name in wanted if name not in HEALTH_CHECKS})
    if unknown:
        return JsonResponse(
            {"detail": f"Unknown check {unknown[0][:40]!r}; the checks are {', '.join(HEALTH_CHECKS)}."}, status=400
        )
    report = health_report(tuple(name for name in HEALTH_CHECKS if name in wanted))
    healthy = all(result["ok"] for result in report.values())
    staff = request.user.is_authenticated and request.user.is_staff
    checks = report if staff else {name: {"ok": result["ok"]} for name, result in report.items()}
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


def _metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    token = settings.MOLEXP_METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        refused = HttpResponse("A bearer token (MOLEXP_METRICS_TOKEN) is required.\n", status=401)
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        loopback = False
    if loopback and not any(header in request.META for header in PROXY_HEADERS):
        return None
    return HttpResponse("Metrics are served to local clients only unless MOLEXP_METRICS_TOKEN is set.\n", status=403)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format: the web processes' counters summed, plus the database-backed gauges."""
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(settings.MOLEXP_METRICS_DIR))
    registry.register(OpsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
