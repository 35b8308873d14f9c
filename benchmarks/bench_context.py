"""RunContext writers outside a worker, on a real run/execution row of the bench database:
``ctx.artifact.save`` latency (1 KB, 100 KB, 1 MB), ``ctx.log().append`` lines/s and
``ctx.log_metric`` points/s including the final flush, and the DB round trips per flush.

Targets (SPEC §11): artifact.save ≤ 1 MB p95 ≤ 20 ms; ≥ 100 000 lines/s; ≥ 10 000 points/s.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


class StatementsSent:
    """Statements the default connection sends to PostgreSQL inside the block, counted from libpq's own
    protocol trace (``Query`` and ``Execute`` messages). ``CaptureQueriesContext`` sees only what goes
    through Django's cursor wrapper, not a ``COPY`` on the psycopg cursor (the metric flush's path)."""

    def __enter__(self) -> StatementsSent:
        from django.db import connection
        from psycopg import pq

        connection.ensure_connection()
        self.pgconn = connection.connection.pgconn
        self.file = tempfile.TemporaryFile()
        self.pgconn.trace(self.file.fileno())
        self.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        self.count = 0
        return self

    def __exit__(self, *exc) -> None:
        self.pgconn.untrace()
        self.file.seek(0)
        for line in self.file.read().decode(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) > 2 and parts[0] == "F" and parts[2] in ("Query", "Execute"):
                self.count += 1
        self.file.close()


def main() -> None:
    common.setup()
    from runs_app.models import Execution, Metric, Run
    from runs_app.workflow.context import RunContext

    report = common.Report("context")
    print(common.header())
    run = Run.objects.filter(status="running").order_by("-id").first() or Run.objects.order_by("-id").first()
    execution = Execution.objects.filter(run=run).order_by("-number").first()
    ctx = RunContext(run=run, execution=execution, workdir=Path(tempfile.mkdtemp(dir=common.VAR_DIR)))

    for size, label in ((1024, "1 KB"), (100 * 1024, "100 KB"), (1024 * 1024, "1 MB")):
        payloads = [os.urandom(size) for _ in range(40)]
        counter = itertools.count()

        def save(label=label, payloads=payloads, counter=counter):
            k = next(counter)
            return ctx.artifact.save(f"bench-{label}-{k}.bin", payloads[k % len(payloads)])

        samples = common.timed(save, 40, warmup=3)
        report.latency(f"ctx.artifact.save {label} (new name each)", samples,
                       p95_max=20 if size <= 1024 * 1024 else None)  # fmt: skip
    mb = os.urandom(1024 * 1024)
    samples = common.timed(lambda: ctx.artifact.save("bench-same-name.bin", mb), 40, warmup=2)
    report.latency("ctx.artifact.save 1 MB (same name: new versions)", samples, p95_max=20)

    n_lines = 510_000  # 10 buffer-full flushes + a partial one by ctx.flush()
    log = ctx.log("bench")
    line = "epoch 12 step 3456 loss=0.12345 lr=1e-4 grad_norm=3.2 time=0.052s"
    t0 = time.perf_counter()
    for _ in range(n_lines):
        log.append(line)
    t_append = time.perf_counter() - t0
    with StatementsSent() as q:
        t1 = time.perf_counter()
        ctx.flush()
        t_flush = time.perf_counter() - t1
    rate = n_lines / (t_append + t_flush)
    report.add(f"ctx.log().append {n_lines:,} lines + flush", p50=round(rate), unit="lines/s",
               target="≥ 100 000 lines/s", ok=rate >= 100_000, append_s=round(t_append, 3), last_flush_s=round(t_flush, 3),
               queries_last_flush=q.count)  # fmt: skip
    report.add(
        "  DB statements of the final log flush (10 000 lines, libpq trace)",
        p50=q.count,
        unit="",
        target="one round trip / flush",
    )

    n_points = 210_000
    before = Metric.objects.filter(execution=execution).count()
    t0 = time.perf_counter()
    for k in range(n_points):
        ctx.log_metric("bench_loss", 1.0 / (k + 1), step=k)
    t_log = time.perf_counter() - t0
    with StatementsSent() as q:
        t1 = time.perf_counter()
        ctx.flush()
        t_flush = time.perf_counter() - t1
    rate = n_points / (t_log + t_flush)
    stored = Metric.objects.filter(execution=execution).count() - before
    report.add(f"ctx.log_metric {n_points:,} points + flush", p50=round(rate), unit="points/s",
               target="≥ 10 000 points/s", ok=rate >= 10_000 and stored == n_points, stored=stored,
               last_flush_s=round(t_flush, 3), queries_last_flush=q.count)  # fmt: skip
    report.add("  DB statements of the final metric flush (10 000 points, libpq trace)", p50=q.count, unit="",
               target="one round trip / flush")  # fmt: skip
    ctx.close()
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
