"""Run list, execution history and catalog browse: server time (selector) and API time at
page 1 and at a deep page reached by keyset cursor (the last page; what following ``next``
links gets to), with the SQL query count of one request (CaptureQueriesContext; the API count
includes the session and user look-ups of authentication). Reference rows (not served paths):
the same deep page by OFFSET, the capped count a page pays and the exact COUNT(*) it replaces.

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

    from assets_app.search import SORTS
    from assets_app.selectors import asset_search, asset_search_page
    from molexp_site import keyset
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
    busiest = Run.objects.annotate(n=Count("executions")).order_by("-n", "-id").values_list("id", "n").first()
    oldest = Run.objects.order_by("id").values_list("id", flat=True).first()
    newest = Run.objects.order_by("-id").values_list("id", flat=True).first()
    ordering = selectors.RUN_LIST_ORDERING

    def deep_cursor(qs, order, rows_before: int) -> tuple[str, int]:
        """The "next" cursor a client holds after walking ``rows_before`` rows (set up once, untimed)."""
        rows_before = max(1, min(rows_before, qs.count() - PAGE))
        row = qs.order_by(*order)[rows_before - 1]
        return keyset.encode_cursor(model=qs.model, ordering=order, row=row, direction="n"), rows_before // PAGE + 1

    def api(url: str):
        def call():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
            return response

        return call

    def measure(label: str, fn, *, page1_p95: float | None = None, reference: bool = False, **extra) -> float:
        with CaptureQueriesContext(connection) as ctx:
            fn()
        n_queries = len(ctx.captured_queries)
        samples = common.timed(fn, repeat)
        p95 = common.percentile(samples, 95)
        if reference:  # a figure to compare with, not a path the application serves
            report.latency(f"{label} [{n_queries} q]", samples, target="reference", ok=None, queries=n_queries, **extra)
            return p95
        ok = p95 <= P95 and n_queries <= MAX_QUERIES
        target = f"p95 ≤ {P95:g} ms, ≤ {MAX_QUERIES} queries"
        if page1_p95 is not None:
            ok = ok and p95 <= 2 * max(page1_p95, 1.0)
            target += ", ≤ 2× page 1"
        report.latency(f"{label} [{n_queries} q]", samples, target=target, ok=ok, queries=n_queries, **extra)
        return p95

    def run_page(qs_fn, cursor=None):
        return lambda: keyset.keyset_page(qs_fn(), ordering=ordering, page_size=PAGE, cursor=cursor)

    # run list of one experiment (the big one): page 1, and a deep page reached by cursor
    run_qs = lambda: selectors.run_list(user=user, filters={"experiment": big})  # noqa: E731
    big_cursor, big_page = deep_cursor(run_qs(), ordering, n_big - PAGE)
    p1 = measure(f"run list, experiment of {n_big} runs, page 1 [selector]", run_page(run_qs))
    measure(f"run list, experiment, page {big_page} by cursor [selector]", run_page(run_qs, big_cursor), page1_p95=p1)
    p1 = measure("run list API ?experiment=, page 1", api(f"/api/runs/?experiment={big}"))
    measure(f"run list API ?experiment=, page {big_page} by cursor",
            api(f"/api/runs/?experiment={big}&cursor={big_cursor}"), page1_p95=p1)  # fmt: skip
    all_qs = lambda: selectors.run_list(user=user)  # noqa: E731
    all_cursor, all_page = deep_cursor(all_qs(), ordering, n_all - PAGE)
    p1 = measure(f"run list API, all {n_all} runs, page 1", api("/api/runs/"))
    measure(f"run list API, all runs, page {all_page} by cursor", api(f"/api/runs/?cursor={all_cursor}"), page1_p95=p1)
    mid_cursor, mid_page = deep_cursor(all_qs(), ordering, n_all // 2)
    measure(f"run list API, all runs, page {mid_page} by cursor", api(f"/api/runs/?cursor={mid_cursor}"), page1_p95=p1)
    measure(f"run list, all runs, page {all_page} by OFFSET [selector]",
            lambda: list(all_qs()[(all_page - 1) * PAGE : all_page * PAGE]), reference=True)  # fmt: skip
    # the count a page pays for: capped at keyset.COUNT_CAP, against the exact COUNT(*) it replaces
    measure(f"capped count of all runs (cap {keyset.COUNT_CAP}) [selector]",
            lambda: keyset.capped_count(all_qs()), reference=True)  # fmt: skip
    measure(f"exact COUNT(*) of all {n_all} runs (not served) [selector]", lambda: all_qs().count(), reference=True)

    # execution history
    measure(f"history API, run with {busiest[1]} executions", api(f"/api/runs/{busiest[0]}/history/"))
    p1 = measure("history API, newest run", api(f"/api/runs/{newest}/history/"))
    measure("history API, oldest run", api(f"/api/runs/{oldest}/history/"), page1_p95=p1)
    run = Run.objects.get(pk=busiest[0])
    measure("execution_list + run_event_list [selector]",
            lambda: (list(selectors.execution_list(run=run)), list(selectors.run_event_list(run=run))))  # fmt: skip

    # catalog browse (no query: newest first), page 1 and a deep page reached by cursor
    browse_search = lambda: asset_search(user=user, q="", filters={})  # noqa: E731
    n_assets = browse_search().matching.count()
    asset_cursor, asset_page = deep_cursor(browse_search().matching, SORTS["relevance"], n_assets - PAGE)
    browse = lambda cursor=None: lambda: asset_search_page(search=browse_search(), page_size=PAGE, cursor=cursor)  # noqa: E731
    p1 = measure(f"catalog browse, {n_assets} assets, page 1 [selector]", browse())
    measure(f"catalog browse, page {asset_page} by cursor [selector]", browse(asset_cursor), page1_p95=p1)
    p1 = measure("catalog browse API /api/assets/, page 1", api("/api/assets/"))
    measure(f"catalog browse API, page {asset_page} by cursor", api(f"/api/assets/?cursor={asset_cursor}"),
            page1_p95=p1)  # fmt: skip
    logs = asset_search(user=user, q="", filters={"kind": "log"}).matching
    log_cursor, log_page = deep_cursor(logs, SORTS["relevance"], logs.count() - PAGE)
    p1 = measure("catalog browse API ?kind=log, page 1", api("/api/assets/?kind=log"))
    measure(f"catalog browse API ?kind=log, page {log_page} by cursor",
            api(f"/api/assets/?kind=log&cursor={log_cursor}"), page1_p95=p1)  # fmt: skip
    newest_order = SORTS["newest"]
    new_cursor, new_page = deep_cursor(browse_search().matching, newest_order, n_assets - PAGE)
    p1 = measure("catalog browse API ?sort=newest, page 1", api("/api/assets/?sort=newest"))
    measure(f"catalog browse API ?sort=newest, page {new_page} by cursor",
            api(f"/api/assets/?sort=newest&cursor={new_cursor}"), page1_p95=p1)  # fmt: skip
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
