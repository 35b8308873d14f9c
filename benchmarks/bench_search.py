"""Catalog search: a fixed query mix through ``asset_search`` (server time of one result page:
rows + capped count, as the API computes it) and through the HTTP API (Django test Client,
the whole request: middleware, auth, filters, serialization).

Targets (SPEC §11): p50 ≤ 20 ms, p95 ≤ 100 ms for a top-50 page at 1 M assets. Facet counts
(``facets=1`` on the API, the catalog page's side panel) of every query class through
``asset_search(...).facets()``: p95 ≤ 50 ms (issue 17; counted over the newest ``FACET_CAP``
hits, bounded by design), with the number of hits they counted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

P50, P95 = 20.0, 100.0
FACETS_P95 = 50.0


def queries(meta: dict) -> list[tuple[str, str, dict]]:
    rare, mid, common_ = meta["rare_word"], meta["mid_word"], meta["common_word"]
    second, third = meta["second_word"], meta["third_word"]
    project = meta["project"]
    return [
        (f"rare word ({rare})", rare, {}),
        (f"mid word ({mid})", mid, {}),
        (f"very common word ({common_})", common_, {}),
        ("two-term AND, common + mid", f"{common_} {mid}", {}),
        ("two-term AND, two common", f"{second} {third}", {}),
        ("OR / NOT", f"{mid} OR {rare} -{common_}", {}),
        ("very common word + project filter", common_, {"project": project}),
        ("mid word + project filter", mid, {"project": project}),
        ("substring of a name with punctuation (-042)", "-042", {}),
        ("kind:error_trace status:failed", "kind:error_trace status:failed", {}),
        ("kind:error_trace status:failed + common word", f"kind:error_trace status:failed {common_}", {}),
        ("sort=newest, very common word", common_, {"sort": "newest"}),
    ]


def main() -> None:
    common.setup()
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from assets_app.selectors import asset_search

    meta = json.loads((common.VAR_DIR / "gen_meta.json").read_text())
    sizes = common.scale()
    repeat = sizes["search_repeat"]
    user = common.bench_user()
    client = common.api_client()
    report = common.Report("search")
    print(common.header())
    for label, q, extra in queries(meta):
        filters = {k: str(v) for k, v in extra.items() if k != "sort"}
        sort = extra.get("sort", "relevance")

        def server(q=q, filters=filters, sort=sort):
            return asset_search(user=user, q=q, filters=filters, sort=sort).page(1, 50)

        page = server()
        with CaptureQueriesContext(connection) as ctx:
            server()
        samples = common.timed(server, repeat)
        report.latency(f"search {label} [server]", samples, p50_max=P50, p95_max=P95,
                       hits=page.count_display, queries=len(ctx.captured_queries))  # fmt: skip
        params = {"q": q, **filters}
        if sort != "relevance":
            params["sort"] = sort
        url = "/api/assets/?" + urlencode(params)

        def http(url=url):
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")
            return response

        samples = common.timed(http, repeat)
        report.latency(f"search {label} [HTTP API]", samples, p50_max=P50, p95_max=P95)

        def facets(q=q, filters=filters, sort=sort):
            return asset_search(user=user, q=q, filters=filters, sort=sort).facets()

        counted = facets()
        with CaptureQueriesContext(connection) as ctx:
            facets()
        samples = common.timed(facets, repeat)
        report.latency(f"facets {label} [server]", samples, p95_max=FACETS_P95, queries=len(ctx.captured_queries),
                       sampled=f"{counted['sampled']}{' (capped)' if counted['capped'] else ''}")  # fmt: skip
        reset_queries()
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
