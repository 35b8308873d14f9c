"""Prometheus metrics of the request path (docs/operations.md, *Metrics*).

Invariants:
- Only what happens inside a web process is counted here: request latency and
  uploaded bytes. Everything that is a state of the database or the broker (runs by
  status, lost executions, queue depth, heartbeats) is read at scrape time by the
  collector in ``runs_app/selectors/ops.py``, so every process agrees on it.
- gunicorn runs several worker processes: prometheus_client's multiprocess mode
  (``PROMETHEUS_MULTIPROC_DIR``, set by settings before this module is imported)
  keeps each process's values in a file, and ``/metrics`` sums the files.
- Labels are bounded: the route's name (not the path), the method, the status class.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

#: Latency buckets (seconds): the API's targets sit at 20–100 ms, uploads and exports take longer.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

REQUEST_LATENCY = Histogram(
    "molexp_http_request_duration_seconds",
    "Time from the first middleware to the response, by route name, method and status class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
UPLOAD_BYTES = Counter(
    "molexp_upload_bytes",
    "Bytes accepted by tus PATCH requests (committed to a partial upload).",
)
#: Methods a label may carry; anything else is "other" (a client cannot grow the label set).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def upload_bytes_add(count: int) -> None:
    """Count ``count`` bytes accepted by the tus upload path."""
    if count > 0:
        UPLOAD_BYTES.inc(count)


class RequestLatencyMiddleware:
    """Observe every request's duration in ``molexp_http_request_duration_seconds``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name if match else "") or "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUEST_LATENCY.labels(route, method, f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        return response
