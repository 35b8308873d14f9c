"""Run list, execution history and catalog browse: server time (selector) and API time at
page 1 and a deep page, with the SQL query count of one request (CaptureQueriesContext; the
API count includes the session and user look-ups of authentication).

Targets (SPEC §11): p95 ≤ 100 ms, ≤ 6 SQL queries per page, deep page ≤ 2× page 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

P95 = 100.0
MAX_QUERIES = 6
PAGE = 50


def main() -> None:
    common.setup()
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext

    from assets_app.selectors import asset_search
    from runs_app import selectors
    from runs_app.models import Run

    meta = json.loads((common.VAR_DIR / "gen_meta.json").read_text())
    repeat = common.scale()["list_repeat"]
    user = common.bench_user()
    client = common.api_client()
    report = common.Report("lists")
    print(common.header())

    big = meta["big_experiment"]
    n_big = Run.objects.filter(experiment_id=big).count()
    n_all = Run.objects.count()
    deep_big = max(1, n_big // PAGE)
    deep_all = max(1, n_all // PAGE)
    busiest = Run.objects.annotate(n=Count("executions")).order_by("-n", "-id").values_list("id", "n").first()
    oldest = Run.objects.order_by("id").values_list("id", flat=True).first()
    newest = Run.objects.order_by("-id").values_list("id", flat=True).first()
    asset_deep = 200  # offset 9 950: the deepest page the catalog serves (MAX_OFFSET 10 000)

    def api(url: str):
        def call():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
            return response

        return call

    def measure(label: str, fn, *, page1_p95: float | None = None, **extra) -> float:
        with CaptureQueriesContext(connection) as ctx:
            fn()
        n_queries = len(ctx.captured_queries)
        samples = common.timed(fn, repeat)
        p95 = common.percentile(samples, 95)
        ok = p95 <= P95 and n_queries <= MAX_QUERIES
        target = f"p95 ≤ {P95:g} ms, ≤ {MAX_QUERIES} queries"
        if page1_p95 is not None:
            ok = ok and p95 <= 2 * max(page1_p95, 1.0)
            target += ", ≤ 2× page 1"
        report.latency(f"{label} [{n_queries} q]", samples, target=target, ok=ok, queries=n_queries, **extra)
        return p95

    def selector_page(qs_fn, number):
        return lambda: list(qs_fn()[(number - 1) * PAGE : number * PAGE])

    # run list of one experiment (the big one), page 1 and deep
    run_qs = lambda: selectors.run_list(user=user, filters={"experiment": big})  # noqa: E731
    p1 = measure(f"run list, experiment of {n_big} runs, page 1 [selector]", selector_page(run_qs, 1))
    measure(f"run list, experiment, page {deep_big} [selector]", selector_page(run_qs, deep_big), page1_p95=p1)
    p1 = measure("run list API ?experiment=, page 1", api(f"/api/runs/?experiment={big}"))
    measure(f"run list API ?experiment=, page {deep_big}", api(f"/api/runs/?experiment={big}&page={deep_big}"),
            page1_p95=p1)  # fmt: skip
    p1 = measure(f"run list API, all {n_all} runs, page 1", api("/api/runs/"))
    measure(f"run list API, all runs, page {deep_all}", api(f"/api/runs/?page={deep_all}"), page1_p95=p1)

    # execution history
    measure(f"history API, run with {busiest[1]} executions", api(f"/api/runs/{busiest[0]}/history/"))
    p1 = measure("history API, newest run", api(f"/api/runs/{newest}/history/"))
    measure("history API, oldest run", api(f"/api/runs/{oldest}/history/"), page1_p95=p1)
    run = Run.objects.get(pk=busiest[0])
    measure("execution_list + run_event_list [selector]",
            lambda: (list(selectors.execution_list(run=run)), list(selectors.run_event_list(run=run))))  # fmt: skip

    # catalog browse (no query: newest first)
    browse = lambda n: lambda: asset_search(user=user, q="", filters={}).page(n, PAGE)  # noqa: E731
    p1 = measure("catalog browse, page 1 [selector]", browse(1))
    measure(f"catalog browse, page {asset_deep} [selector]", browse(asset_deep), page1_p95=p1)
    p1 = measure("catalog browse API /api/assets/, page 1", api("/api/assets/"))
    measure(f"catalog browse API, page {asset_deep}", api(f"/api/assets/?page={asset_deep}"), page1_p95=p1)
    p1 = measure("catalog browse API ?kind=log, page 1", api("/api/assets/?kind=log"))
    measure(f"catalog browse API ?kind=log, page {asset_deep}", api(f"/api/assets/?kind=log&page={asset_deep}"),
            page1_p95=p1)  # fmt: skip
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
