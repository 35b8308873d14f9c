"""Charts across runs (SPEC §15): one metric of 100 runs × ``POINTS`` points each (100 000 by
default: 10 million rows), charted through ``GET /api/runs/series/`` and the charts page.

Reports the response size and p50/p95. The series are sampled by index probes
(``runs_app/selectors/charts.py``), so the time does not grow with the number of points but with
the probes (≤ 10 000 per chart); a finished run's sampled series is cached, so the rows after the
first view measure the usual case (a chart looked at again, or redrawn with another colour or x).
Targets: each response ≤ 2 MB, p95 ≤ 500 ms (a chart redraws on each change of the metric).

The data are made here once per bench database with one ``INSERT … SELECT generate_series``
(PostgreSQL); ``CHART_POINTS=10000`` makes a smaller set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

RUNS = 100
POINTS = int(os.environ.get("CHART_POINTS", "100000"))
SLUG = f"charts-{RUNS}x{POINTS}"
P95 = 500.0
MAX_BYTES = 2_000_000


def ensure_data():
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from runs_app.choices import Role, RunStatus
    from runs_app.models import Experiment, Membership, Metric, Project, Run, Workspace

    user, _ = get_user_model().objects.get_or_create(username=common.BENCH_USER)
    ws, _ = Workspace.objects.get_or_create(slug="charts", defaults={"name": "Charts"})
    Membership.objects.get_or_create(workspace=ws, user=user, defaults={"role": Role.OWNER})
    project, _ = Project.objects.get_or_create(workspace=ws, slug="curves", defaults={"name": "Curves"})
    experiment, _ = Experiment.objects.get_or_create(
        project=project, workspace=ws, slug=SLUG, defaults={"name": "Curves", "workflow_name": "noop"}
    )
    runs = list(Run.objects.filter(experiment=experiment).order_by("number"))
    if len(runs) == RUNS and Metric.objects.filter(run=runs[-1]).count() == POINTS:
        return user, experiment
    Run.objects.filter(experiment=experiment).delete()
    now = timezone.now()
    runs = Run.objects.bulk_create(
        [
            Run(experiment=experiment, project=project, workspace=ws, number=i + 1, status=RunStatus.SUCCEEDED,
                profile="default", config={"lr": [1e-4, 1e-3, 1e-2, 1e-1][i % 4], "layers": 2 + (i // 4) % 5},
                params={"seed": i}, config_hash=f"{i:064x}", results={"rmse": round(1 / (1 + i), 4)}, launched_by=user,
                started_at=now, finished_at=now)
            for i in range(RUNS)
        ]
    )  # fmt: skip
    table = Metric._meta.db_table
    with connection.cursor() as cur:
        for run in runs:  # one statement per run: 100 000 rows each
            cur.execute(
                f"INSERT INTO {table} (run_id, key, step, value, created_at) "  # noqa: S608 - constant table name
                "SELECT %s, 'loss', s, 1.0 / (1 + s * %s) + random() * 0.01, now() + s * interval '10 ms' "
                "FROM generate_series(0, %s - 1) s",
                [run.pk, 1e-3 * (1 + run.number % 7), POINTS],
            )
        cur.execute(f"ANALYZE {table}")
    return user, experiment


def main() -> None:
    common.setup()
    from django.test import Client

    repeat = common.scale()["list_repeat"]
    report = common.Report("charts")
    print(common.header())
    with common.stopwatch() as box:
        user, experiment = ensure_data()
    report.note(f"{RUNS} runs × {POINTS} points of one metric ready in {box['s']:.1f} s")
    client = Client()
    client.force_login(user)

    def measure(label: str, url: str) -> None:
        def call():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
            return response

        size = len(call().content)
        samples = common.timed(call, repeat)
        ok = common.percentile(samples, 95) <= P95 and size <= MAX_BYTES
        report.latency(
            f"{label} [{size / 1e6:.2f} MB]",
            samples,
            target=f"p95 ≤ {P95:g} ms, ≤ {MAX_BYTES / 1e6:g} MB",
            ok=ok,
            bytes=size,
        )

    def cold(label: str, urls: list[str]) -> None:
        """First views: each URL asks a point count not asked before, so no cached series serves it."""
        samples, size = [], 0
        for url in urls:
            with common.stopwatch() as box:
                response = client.get(url)
            assert response.status_code == 200, response.content[:300]
            samples.append(box["s"] * 1000)
            size = len(response.content)
        report.latency(f"{label} [{size / 1e6:.2f} MB]", samples, target="reference", ok=None, bytes=size)

    api = f"/api/runs/series/?experiment={experiment.pk}&key=loss"
    cold(f"API series, first view (nothing cached), {RUNS} runs", [f"{api}&max_points={90 - i}" for i in range(5)])
    measure(f"API series, {RUNS} runs × {POINTS} points, 1000 per run", api)
    measure("API series, x=time, 2000 per run", api + "&x=time&max_points=2000")
    measure("API series, filter=config.lr>=1e-2 (50 runs)", api + "&filter=config.lr>=1e-2")
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # the page's manifest (DEBUG=0)
    page = f"{experiment.get_absolute_url()}charts/?key=loss&color=config.lr"
    measure("charts page (data embedded)", page)
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
