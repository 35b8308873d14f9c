"""The experiment workbench (SPEC §15): one experiment of 20 000 runs (a 4-axis sweep in its
config, results and a metric per run), its runs table sorted by a config key: the page's htmx
fragment (varying columns, "same for all", latest metrics; the query count includes the session
and user look-ups) and ``GET /api/runs/?experiment=&sort=config.lr`` with a condition, page 1
and a deep page. Targets (issue 14): p95 ≤ 100 ms, ≤ 6 queries.

The experiment is made here (not by ``gen_data.py``), once per bench database, with
``bulk_create``; at every scale it holds ``RUNS`` runs (the acceptance figure).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

P95 = 100.0
MAX_QUERIES = 6
RUNS = 20_000
SLUG = "workbench-20k"


def ensure_data():
    """The bench user, a workspace, project and the 20 000-run experiment (made once)."""
    from django.contrib.auth import get_user_model

    from runs_app.choices import Role, RunStatus
    from runs_app.models import Experiment, Membership, Metric, Project, Run, Workspace

    user, _ = get_user_model().objects.get_or_create(username=common.BENCH_USER)
    ws, _ = Workspace.objects.get_or_create(slug="workbench", defaults={"name": "Workbench"})
    Membership.objects.get_or_create(workspace=ws, user=user, defaults={"role": Role.OWNER})
    project, _ = Project.objects.get_or_create(workspace=ws, slug="sweeps", defaults={"name": "Sweeps"})
    experiment, _ = Experiment.objects.get_or_create(
        project=project, workspace=ws, slug=SLUG, defaults={"name": "Workbench", "workflow_name": "noop"}
    )
    have = Run.objects.filter(experiment=experiment).count()
    if have >= RUNS:
        return user, experiment
    Run.objects.filter(experiment=experiment).delete()
    start = datetime.now(UTC) - timedelta(days=30)
    lrs, layers, dropouts, seeds = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], [2, 4, 6, 8], [0.0, 0.1, 0.2, 0.5], range(50)
    rows = []
    for i in range(RUNS):
        lr, depth = lrs[i % 5], layers[(i // 5) % 4]
        dropout, seed = dropouts[(i // 20) % 4], seeds[(i // 80) % 50]
        rows.append(
            Run(
                experiment=experiment, project=project, workspace=ws, number=i + 1, status=RunStatus.SUCCEEDED,
                profile="default", params={"seed": seed},
                config={"lr": lr, "model": {"layers": depth, "dropout": dropout}, "epochs": 100, "device": "cuda"},
                config_hash=f"{i:064x}", results={"rmse": round(1 / (1 + i % 97), 4)},
                created_at=start + timedelta(seconds=(i // 20) * 60),  # a launch = 20 runs (one sweep)
                launched_by=user,
            )
        )  # fmt: skip
    made = Run.objects.bulk_create(rows, batch_size=2000)
    # created_at is auto_now_add: set the launch times explicitly after the insert.
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "UPDATE runs_app_run SET created_at = %s + ((number - 1) / 20) * interval '1 minute' "
            "WHERE experiment_id = %s",
            [start, experiment.pk],
        )
    Metric.objects.bulk_create(
        [Metric(run=run, key="loss", step=step, value=1.0 / (step + 1 + run.number % 13)) for run in made
         for step in (1, 2)],
        batch_size=5000,
    )  # fmt: skip
    with connection.cursor() as cur:
        cur.execute("ANALYZE runs_app_run; ANALYZE runs_app_metric")
    return user, experiment


def main() -> None:
    common.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    repeat = common.scale()["list_repeat"]
    report = common.Report("workbench")
    print(common.header())
    with common.stopwatch() as box:
        user, experiment = ensure_data()
    report.note(f"experiment of {RUNS} runs ready in {box['s']:.1f} s")
    client = Client()
    client.force_login(user)
    page_url = experiment.get_absolute_url()

    def get(url: str, **headers):
        def call():
            response = client.get(url, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
            return response

        return call

    def measure(label: str, fn, *, reference: bool = False) -> None:
        with CaptureQueriesContext(connection) as ctx:
            fn()
        n_queries = len(ctx.captured_queries)
        samples = common.timed(fn, repeat)
        if reference:  # a figure to know, not the acceptance path
            report.latency(f"{label} [{n_queries} q]", samples, target="reference", ok=None, queries=n_queries)
            return
        ok = common.percentile(samples, 95) <= P95 and n_queries <= MAX_QUERIES
        report.latency(f"{label} [{n_queries} q]", samples, target=f"p95 ≤ {P95:g} ms, ≤ {MAX_QUERIES} queries",
                       ok=ok, queries=n_queries)  # fmt: skip

    htmx = {"HX-Request": "true"}
    measure(f"runs table, {RUNS} runs, sort=config.lr (page 1)", get(f"{page_url}?sort=config.lr", **htmx))
    measure(f"runs table, {RUNS} runs, sort=-config.model.layers (page 1)",
            get(f"{page_url}?sort=-config.model.layers", **htmx))  # fmt: skip
    # A deep sorted page (OFFSET ~5 000) pays a full sort of the experiment instead of a top-N one.
    measure("runs table, sort=config.lr, page 200", get(f"{page_url}?sort=config.lr&page=200", **htmx), reference=True)
    measure("runs table, filter=config.lr>=1e-3 & sort=-config.lr",
            get(f"{page_url}?filter=config.lr>=1e-3&sort=-config.lr", **htmx))  # fmt: skip
    measure("runs table, newest first (no sort)", get(page_url, **htmx))
    measure(f"API /api/runs/?experiment=&sort=config.lr, {RUNS} runs",
            get(f"/api/runs/?experiment={experiment.pk}&sort=config.lr"))  # fmt: skip
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
