"""How cost grows with scale: a few key figures at three data sizes, and the curve drawn as
``docs/img/scaling.svg`` (hand-written SVG, no plotting library).

    python benchmarks/bench_scaling.py [--sizes=small,reduced,full] [--fresh]
    python benchmarks/bench_scaling.py --render-only                  (redraw from results/scaling.json)
    python benchmarks/run_all.py --only=scaling                       (the same, from run_all)

Sizes are the ``common.SCALES`` entries ``small`` (1 000 runs, 10 000 assets), ``reduced``
(10 000 / 100 000) and ``full`` (100 000 / 1 000 000): same generator, same seed, same shape.
Each size has its own database ``<bench db>_<size>`` and folder ``<var>/scale-<size>``, kept
between invocations and reused when its ``gen_meta.json`` says it was generated at that size
(``--fresh`` regenerates). A size whose data is already in the main bench database (a
``make bench SCALE=full`` run left ``gen_meta.json`` at that scale) reuses that database.

Figures, p50 and p95 over the size's ``search_repeat``/``list_repeat`` repetitions, measured
in a child process per size (the same calls as ``bench_search.py`` and ``bench_lists.py``):
catalog search of a rare, a mid and a very common word [server, ``asset_search(...).page(1, 50)``];
run list API ``?experiment=`` (the big experiment, 20 % of the runs) page 1 and its last full
page; run list API over all runs page 1 and last full page; catalog browse API page 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DEFAULT_SIZES = ["small", "reduced", "full"]
SVG_PATH = common.BASE_DIR / "docs" / "img" / "scaling.svg"
PAGE = 50

#: (key, label, panel) of each curve; panel 0 = search, 1 = lists.
SERIES = [
    ("search_rare", "search, rare word [server]", 0),
    ("search_mid", "search, mid word [server]", 0),
    ("search_common", "search, very common word [server]", 0),
    ("list_exp_p1", "run list API ?experiment=, page 1", 1),
    ("list_exp_deep", "run list API ?experiment=, last page", 1),
    ("list_all_p1", "run list API, all runs, page 1", 1),
    ("list_all_deep", "run list API, all runs, last page", 1),
    ("browse_p1", "catalog browse API, page 1", 1),
]
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


# --- one size, in a child process pointed at that size's database -------------------------------


def measure() -> dict:
    common.setup()
    from assets_app.selectors import asset_search
    from runs_app.models import Run

    meta = json.loads((common.VAR_DIR / "gen_meta.json").read_text())
    sizes = common.scale()
    user = common.bench_user()
    client = common.api_client()
    out = {}

    def keep(key, samples, **extra):
        out[key] = {"p50": round(common.percentile(samples, 50), 2), "p95": round(common.percentile(samples, 95), 2),
                    "n": len(samples), **extra}  # fmt: skip
        print(f"  {key:<16} p50 {out[key]['p50']:8.2f} ms   p95 {out[key]['p95']:8.2f} ms", flush=True)

    for key, word in (("search_rare", meta["rare_word"]), ("search_mid", meta["mid_word"]),
                      ("search_common", meta["common_word"])):  # fmt: skip
        call = lambda word=word: asset_search(user=user, q=word, filters={}, sort="relevance").page(1, PAGE)  # noqa: E731
        keep(key, common.timed(call, sizes["search_repeat"]), word=word)

    def api(url: str):
        def call():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.content[:300]!r}")

        return call

    big = meta["big_experiment"]
    n_big = Run.objects.filter(experiment_id=big).count()
    n_all = Run.objects.count()
    repeat = sizes["list_repeat"]
    from molexp_site import keyset
    from runs_app import selectors

    def last_page_cursor(filters: dict) -> tuple[str, int]:
        """The ``next`` cursor a client holds on reaching the last page (keyset: the same cost at any depth)."""
        qs = selectors.run_list(user=user, filters=filters).order_by(*selectors.RUN_LIST_ORDERING)
        rows_before = max(1, qs.count() - PAGE)
        row = qs[rows_before - 1]
        cursor = keyset.encode_cursor(model=Run, ordering=selectors.RUN_LIST_ORDERING, row=row, direction="n")
        return cursor, rows_before // PAGE + 1

    keep("list_exp_p1", common.timed(api(f"/api/runs/?experiment={big}"), repeat), runs=n_big)
    cursor, deep = last_page_cursor({"experiment": big})
    keep("list_exp_deep", common.timed(api(f"/api/runs/?experiment={big}&cursor={cursor}"), repeat), page=deep)
    keep("list_all_p1", common.timed(api("/api/runs/"), repeat), runs=n_all)
    cursor, deep = last_page_cursor({})
    keep("list_all_deep", common.timed(api(f"/api/runs/?cursor={cursor}"), repeat), page=deep)
    keep("browse_p1", common.timed(api("/api/assets/"), repeat))
    from assets_app.models import Asset

    return {"runs": n_all, "assets": Asset.objects.count(), "figures": out}


# --- orchestration ------------------------------------------------------------------------------


def size_env(size: str) -> tuple[dict, str, Path]:
    """Environment, database and var folder for one size (the main bench DB if it holds that size)."""
    main_meta = common.VAR_DIR / "gen_meta.json"
    if main_meta.exists() and json.loads(main_meta.read_text()).get("scale") == size:
        db, var = common.DB_NAME, common.VAR_DIR
    else:
        db, var = f"{common.DB_NAME}_{size}", common.VAR_DIR / f"scale-{size}"
    url = f"postgres://postgres@127.0.0.1:5432/{db}"
    env = {**os.environ, "SCALE": size, "BENCH_DB_NAME": db, "BENCH_VAR_DIR": str(var), "BENCH_DATABASE_URL": url,
           "DATABASE_URL": url, "CELERY_BROKER_URL": common.BROKER_URL, "MOLEXP_VAR_DIR": str(var),
           "MOLEXP_WORKFLOW_DIRS": str(common.WORKFLOW_DIR), "BENCH_WORKFLOW_DIR": str(common.WORKFLOW_DIR),
           "DJANGO_SETTINGS_MODULE": "molexp_site.settings",
           "DEBUG": "0"}  # fmt: skip
    common.WORKFLOW_DIR.mkdir(parents=True, exist_ok=True)
    return env, db, var


def run(args: list[str], env: dict) -> None:
    print(f"$ {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, *args], cwd=common.BASE_DIR, env=env, check=True)


def prepare(size: str, fresh: bool) -> tuple[dict, float | None]:
    import psycopg

    env, db, var = size_env(size)
    meta = var / "gen_meta.json"
    if not fresh and meta.exists() and json.loads(meta.read_text()).get("scale") == size:
        print(f"{size}: reusing {db} ({var})", flush=True)
        return env, None
    if db == common.DB_NAME:  # never regenerate the main bench database from here
        print(f"{size}: reusing {db} (main bench database)", flush=True)
        return env, None
    print(f"{size}: generating into {db}", flush=True)
    t0 = time.perf_counter()
    with psycopg.connect(common.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    meta.unlink(missing_ok=True)
    run(["manage.py", "migrate", "--noinput", "--verbosity", "0"], env)
    run(["benchmarks/gen_data.py", f"--scale={size}"], env)
    return env, time.perf_counter() - t0


def nice_ticks(top: float) -> list[float]:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if top / step <= 6:
            return [step * k for k in range(int(top // step) + 2)]
    return [0, top]


def render_svg(result: dict, path: Path) -> None:
    """Two panels (search; lists), x = assets on a log axis (runs = assets / 10), y = p50 ms."""
    points = result["points"]
    xs = [p["assets"] for p in points]
    width, height, pad_l, pad_r, pad_t, pad_b = 980, 470, 60, 20, 56, 170
    panel_w = (width - pad_l - pad_r - 60) / 2
    plot_h = height - pad_t - pad_b
    import math

    lx0, lx1 = math.log10(min(xs)) - 0.15, math.log10(max(xs)) + 0.15
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">'
        "MolExp: cost vs data size (p50, ms; PostgreSQL, 2 shared vCPU)</text>",
        f'<text x="{width / 2}" y="38" text-anchor="middle" fill="#555">measured {result["measured"]} by '
        "benchmarks/bench_scaling.py; x: assets (runs = assets / 10), log scale</text>",
    ]
    for panel, title in ((0, "catalog search (server, top 50)"), (1, "lists (HTTP API through Django, page of 50)")):
        x0 = pad_l + panel * (panel_w + 60)
        keys = [(i, k, label) for i, (k, label, pn) in enumerate(SERIES) if pn == panel]
        top = max(p["figures"][k]["p50"] for p in points for _, k, _ in keys if k in p["figures"])
        ticks = nice_ticks(top)
        ymax = ticks[-1]

        def sx(v, x0=x0):
            return x0 + (math.log10(v) - lx0) / (lx1 - lx0) * panel_w

        def sy(v, ymax=ymax):
            return pad_t + plot_h - v / ymax * plot_h

        parts.append(f'<text x="{x0 + panel_w / 2}" y="{pad_t - 6}" text-anchor="middle" font-weight="bold">'
                     f"{title}</text>")  # fmt: skip
        parts.append(f'<rect x="{x0}" y="{pad_t}" width="{panel_w}" height="{plot_h}" fill="none" stroke="#999"/>')
        for t in ticks:
            y = sy(t)
            parts.append(f'<line x1="{x0}" x2="{x0 + panel_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
        for p in points:
            x = sx(p["assets"])
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t}" y2="{pad_t + plot_h}" stroke="#eee"/>')
            parts.append(f'<text x="{x:.1f}" y="{pad_t + plot_h + 16}" text-anchor="middle">'
                         f'{p["assets"]:,} assets</text>')  # fmt: skip
            parts.append(f'<text x="{x:.1f}" y="{pad_t + plot_h + 30}" text-anchor="middle" fill="#555">'
                         f'{p["runs"]:,} runs</text>')  # fmt: skip
        parts.append(f'<text x="{x0 - 44}" y="{pad_t + plot_h / 2}" text-anchor="middle" '
                     f'transform="rotate(-90 {x0 - 44} {pad_t + plot_h / 2})">ms (p50)</text>')  # fmt: skip
        for row, (i, key, label) in enumerate(keys):
            pts = [(sx(p["assets"]), sy(p["figures"][key]["p50"])) for p in points if key in p["figures"]]
            color = COLORS[i % len(COLORS)]
            poly = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{poly}" fill="none" stroke="{color}" stroke-width="2"/>')
            for (x, y), p in zip(pts, points, strict=False):
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}">'
                             f'<title>{label}: {p["figures"][key]["p50"]} ms p50, '
                             f'{p["figures"][key]["p95"]} ms p95</title></circle>')  # fmt: skip
            ly = pad_t + plot_h + 52 + row * 17
            parts.append(f'<line x1="{x0}" x2="{x0 + 22}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
                         'stroke-width="2"/>')  # fmt: skip
            values = " → ".join(f"{p['figures'][key]['p50']:.0f}" for p in points if key in p["figures"])
            parts.append(f'<text x="{x0 + 28}" y="{ly}">{label}: {values} ms</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")


def main() -> int:
    if "--measure" in sys.argv:
        print(json.dumps(measure()), flush=True)
        return 0
    if "--render-only" in sys.argv:  # redraw the picture from results/scaling.json
        render_svg(json.loads((common.RESULTS_DIR / "scaling.json").read_text()), SVG_PATH)
        print(f"-> {SVG_PATH}")
        return 0
    sizes = next((a.split("=", 1)[1].split(",") for a in sys.argv[1:] if a.startswith("--sizes=")), DEFAULT_SIZES)
    fresh = "--fresh" in sys.argv
    report = common.Report("scaling")
    points = []
    for size in sizes:
        env, gen_s = prepare(size, fresh)
        print(f"=== {size}: measuring ===", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--measure", f"--scale={size}"], cwd=common.BASE_DIR,
                              env=env, capture_output=True, text=True, check=False)  # fmt: skip
        sys.stdout.write(proc.stdout.rsplit("\n", 2)[0] + "\n" if proc.stdout else "")
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        point = {"size": size, **json.loads(proc.stdout.strip().splitlines()[-1])}
        if gen_s is not None:
            point["generate_s"] = round(gen_s, 1)
        points.append(point)
        for key, label, _ in SERIES:
            fig = point["figures"][key]
            report.add(f"{label} @ {point['assets']:,} assets / {point['runs']:,} runs", p50=fig["p50"],
                       p95=fig["p95"], target="", size=size)  # fmt: skip
    result = {"measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": common.machine(),
              "points": points}  # fmt: skip
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (common.RESULTS_DIR / "scaling.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    report.save()
    if len(points) >= 2:
        render_svg(result, SVG_PATH)
        print(f"-> {SVG_PATH}")
    print(f"-> {common.RESULTS_DIR / 'scaling.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
