"""MolExp side by side with MLflow on this machine, same data shape, same operations; every
figure is reported as a ratio MolExp / MLflow (below 1: MolExp is faster).

    python benchmarks/bench_mlflow.py [--scale=reduced|full]     (run_all.py runs it last)

MLflow is never a dependency of the project: this script makes its own virtual environment
(``<var>/mlflow-venv``, reused when it already holds the pinned version) with
``pip install mlflow==MLFLOW_VERSION psycopg2-binary``. If that fails (no network) it says so,
writes a JSON whose only row is the skip, and exits 0 so the rest of ``make bench`` completes.

Both servers run on loopback, one process each, against the same PostgreSQL:

- **MLflow**: ``mlflow server`` (``--workers 1``) with its backend store in its own database
  (``mlflow_bench``, created here and dropped at the end) and ``--artifacts-destination`` a local folder
  (artifacts proxied through the server). The MLflow-side operations run in a subprocess with
  the MLflow venv's python (``mlflow_side.py``, ``MlflowClient`` over HTTP).
- **MolExp**: gunicorn (gthread, 1 worker × 4 threads, as ``bench_upload.py``) on the bench
  database; requests over HTTP with token authentication.

Data shape: after ``mlflow server`` has created its schema, every run of the MolExp bench data
(``gen_data.py``: same experiments, params, results and metric points) is bulk-inserted into
MLflow's own tables (``experiments`` through the API; ``runs``, ``params``, ``tags``,
``metrics``, ``latest_metrics`` with COPY): creating 100 000 runs through MLflow's API would
take hours. What each operation does on each side is in ``docs/performance.md``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

MLFLOW_VERSION = "3.17.2"
MLFLOW_DB = os.environ.get("BENCH_MLFLOW_DB_NAME", "mlflow_bench")
MLFLOW_VENV = Path(os.environ.get("BENCH_MLFLOW_VENV", str(common.VAR_DIR / "mlflow-venv")))
MIB = 1024 * 1024
PAGE = 50

SIZES = {
    "reduced": {"create_runs": 100, "points": 10_000, "points_single": 1_000, "artifact_mib": 64, "chunk_mib": 32},
    "full": {"create_runs": 300, "points": 10_000, "points_single": 1_000, "artifact_mib": 1024, "chunk_mib": 64},
}
#: MolExp run status → MLflow RunStatus (``lost`` has no MLflow equivalent: FAILED).
STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED", "lost": "FAILED",
          "running": "RUNNING", "queued": "SCHEDULED"}  # fmt: skip
#: The same run filters on both sides where MolExp has one; MLflow-only rows have no MolExp figure.
FILTERS = {
    "status": "attributes.status = 'FINISHED'",
    "param": "params.model = 'gcn'",
    "param_metric": "params.model = 'gcn' and metrics.rmse < 0.5",
}


# --- MLflow venv and server ----------------------------------------------------------------


def venv_python() -> Path:
    return MLFLOW_VENV / "bin" / "python"


def ensure_venv() -> str | None:
    """The MLflow venv's python, installing it if needed; None (and why, printed) if pip failed."""
    py = venv_python()
    check = [str(py), "-c", f"import mlflow, psycopg2, sys; sys.exit(mlflow.__version__ != {MLFLOW_VERSION!r})"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return None
    print(f"creating {MLFLOW_VENV} and installing mlflow=={MLFLOW_VERSION} (pip, once)", flush=True)
    log = common.VAR_DIR / "mlflow-pip.log"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(MLFLOW_VENV)], check=True, capture_output=True)
        with open(log, "wb") as fh:
            subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", f"mlflow=={MLFLOW_VERSION}",
                            "psycopg2-binary"], check=True, stdout=fh, stderr=subprocess.STDOUT, timeout=1800)  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        return f"pip install mlflow=={MLFLOW_VERSION} into {MLFLOW_VENV} failed ({exc}); no network? log {log}:\n{tail}"
    if subprocess.run(check, capture_output=True).returncode != 0:
        return f"mlflow=={MLFLOW_VERSION} does not import from {MLFLOW_VENV} after pip install (log {log})"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(port: int, path: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status < 500:
                return
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"server on :{port} did not start: {log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)


def start_mlflow(port: int, artifacts: Path) -> subprocess.Popen:
    log_path = common.VAR_DIR / "bench-mlflow-server.log"
    cmd = [str(MLFLOW_VENV / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{MLFLOW_DB}",
           "--artifacts-destination", str(artifacts)]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=common.VAR_DIR, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, "MLFLOW_TRACKING_URI": ""})  # fmt: skip
    wait_http(port, "/health", proc, log_path, timeout=300)
    return proc


def start_gunicorn(port: int) -> subprocess.Popen:
    log_path = common.VAR_DIR / "bench-gunicorn-mlflow.log"
    cmd = [sys.executable, "-m", "gunicorn", "molexp_site.wsgi", "--bind", f"127.0.0.1:{port}", "--worker-class",
           "gthread", "--workers", "1", "--threads", "4", "--timeout", "600", "--error-logfile", "-"]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=common.BASE_DIR, env=common.bench_env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    wait_http(port, "/api/", proc, log_path, timeout=60)
    return proc


def mlflow_side(command: str, cfg: dict, timeout: float = 3600) -> dict:
    result = subprocess.run([str(venv_python()), str(common.BENCH_DIR / "mlflow_side.py"), command],
                            input=json.dumps(cfg), capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "MLFLOW_TRACKING_URI": cfg["tracking_uri"]})  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"mlflow_side.py {command} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- same data in MLflow's schema --------------------------------------------------------------


def pg(dbname: str):
    import psycopg

    return psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{dbname}")


def recreate_mlflow_db() -> None:
    import psycopg

    with psycopg.connect(common.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{MLFLOW_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{MLFLOW_DB}"')


def drop_mlflow_db() -> None:
    import psycopg

    with psycopg.connect(common.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{MLFLOW_DB}" WITH (FORCE)')


def copy_molexp_runs(tracking_uri: str) -> dict:
    """Experiments through the MLflow API, then every generated MolExp run (params, results, metric
    points) COPYed into MLflow's tables. Returns ``{molexp experiment id: mlflow experiment id}``."""
    t0 = time.perf_counter()
    with pg(common.DB_NAME) as src:
        exps = src.execute(
            "SELECT e.id, p.slug, e.slug, e.name FROM runs_app_experiment e JOIN runs_app_project p ON p.id = e.project_id"
            " WHERE e.slug ~ '^e[0-9]+$' AND p.slug ~ '^p[0-9]+$' ORDER BY e.id"
        ).fetchall()
        names = {eid: f"{pslug}-{eslug}-{eid} {name}" for eid, pslug, eslug, name in exps}
        ids = mlflow_side("experiments", {"tracking_uri": tracking_uri, "names": list(names.values())})["ids"]
        exp_map = {eid: int(ids[name]) for eid, name in names.items()}
        runs = src.execute(
            "SELECT id, experiment_id, number, status, params, results, created_at, finished_at FROM runs_app_run"
            " WHERE experiment_id = ANY(%s) ORDER BY id",
            (list(exp_map),),
        ).fetchall()
        uuids = {r[0]: uuid.UUID(int=r[0]).hex for r in runs}
        ms = lambda dt: int(dt.timestamp() * 1000)  # noqa: E731
        run_rows, param_rows, tag_rows, metric_rows, latest = [], [], [], [], {}
        for rid, eid, number, status, params, results, created, finished in runs:
            ru, mexp = uuids[rid], exp_map[eid]
            run_rows.append((ru, f"run-{number}", "LOCAL", "bench_noop.py", "", "bench", STATUS[status], ms(created),
                             ms(finished) if finished else None, "", "active", f"mlflow-artifacts:/{mexp}/{ru}/artifacts",
                             mexp))  # fmt: skip
            param_rows += [(key, str(value), ru) for key, value in (params or {}).items()]
            tag_rows += [("mlflow.runName", f"run-{number}", ru), ("mlflow.user", "bench", ru),
                         ("mlflow.source.name", "bench_noop.py", ru), ("mlflow.source.type", "LOCAL", ru)]  # fmt: skip
            for key, value in (results or {}).items():
                ts = ms(finished or created)
                metric_rows.append((key, float(value), ts, ru, 0, False))
                latest[(ru, key)] = (key, float(value), ts, 0, False, ru)
        for rid, key, step, value, created in src.execute(
            "SELECT run_id, key, step, value, created_at FROM runs_app_metric WHERE run_id = ANY(%s) ORDER BY id",
            (list(uuids),),
        ):
            ru, ts = uuids[rid], ms(created)
            metric_rows.append((key, value, ts, ru, step, False))
            if (ru, key) not in latest or latest[(ru, key)][3] <= step:
                latest[(ru, key)] = (key, value, ts, step, False, ru)
    with pg(MLFLOW_DB) as dst:
        with dst.cursor() as cur:
            for table, columns, rows in (
                ("runs", "run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time,"
                         " end_time, source_version, lifecycle_stage, artifact_uri, experiment_id", run_rows),
                ("params", "key, value, run_uuid", param_rows),
                ("tags", "key, value, run_uuid", tag_rows),
                ("metrics", "key, value, timestamp, run_uuid, step, is_nan", metric_rows),
                ("latest_metrics", "key, value, timestamp, step, is_nan, run_uuid", list(latest.values())),
            ):  # fmt: skip
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        dst.commit()
        dst.autocommit = True
        dst.execute("VACUUM ANALYZE")
    took = time.perf_counter() - t0
    print(f"MLflow store: {len(exp_map)} experiments, {len(run_rows)} runs, {len(param_rows)} params, "
          f"{len(metric_rows)} metric points copied in {took:.1f} s", flush=True)  # fmt: skip
    return {"exp_map": exp_map, "runs": len(run_rows), "metrics": len(metric_rows), "seconds": round(took, 1)}


# --- the MolExp side ----------------------------------------------------------------------------


def molexp_side(port: int, cfg: dict, compare_experiment, params: list[dict], metrics: list[dict]) -> dict:
    import requests
    from rest_framework.authtoken.models import Token
    from tusclient import client as tus

    from runs_app.models import Execution, Metric, Run, Workspace
    from runs_app.workflow.context import RunContext

    user = common.bench_user()
    token = Token.objects.get_or_create(user=user)[0].key
    base = f"http://127.0.0.1:{port}"
    http_ = requests.Session()
    http_.headers["Authorization"] = f"Token {token}"
    repeat = cfg["repeat"]
    out: dict = {}
    workdir = Path(tempfile.mkdtemp(dir=common.VAR_DIR))

    def get(url: str):
        def call():
            response = http_.get(base + url, timeout=120)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
            return response.json()

        return call

    # 1. create runs: POST launch (run + params) over HTTP, then the worker's path for metrics
    #    (RunContext.log_metric + flush: workers write the database directly, no HTTP)
    def create_one(k: int) -> int:
        response = http_.post(f"{base}/api/experiments/{compare_experiment.pk}/launch/", timeout=60,
                              json={"params": params[k % len(params)]})  # fmt: skip
        if response.status_code != 201:
            raise RuntimeError(f"launch: {response.status_code} {response.text[:300]}")
        run_id = response.json()["runs"][0]["id"]
        run = Run.objects.get(pk=run_id)
        execution = Execution.objects.filter(run=run).order_by("-number").first()
        ctx = RunContext(run=run, execution=execution, workdir=workdir)
        for key, value in metrics[k % len(metrics)].items():
            ctx.log_metric(key, value, step=0)
        ctx.flush()
        return run_id

    for k in range(2):
        create_one(-1 - k)
    samples, run_ids = [], []
    t_all = time.perf_counter()
    for k in range(cfg["n_create"]):
        t0 = time.perf_counter()
        run_ids.append(create_one(k))
        samples.append((time.perf_counter() - t0) * 1000)
    out["create_ms"] = samples
    out["create_total_s"] = time.perf_counter() - t_all

    # 1b. many runs with params at once: one sweep request (n_create cells: the same param sets,
    #     made distinct by a ``cell`` axis); the launch API's bulk path
    sweep = {key: [params[0][key]] for key in params[0]} | {"cell": list(range(cfg["n_create"]))}
    t0 = time.perf_counter()
    response = http_.post(f"{base}/api/experiments/{compare_experiment.pk}/launch/", json={"sweep": sweep}, timeout=300)
    out["bulk_create_s"] = time.perf_counter() - t0
    if response.status_code != 201 or len(response.json()["runs"]) != cfg["n_create"]:
        raise RuntimeError(f"sweep launch: {response.status_code} {response.text[:300]}")

    # 2. search runs across experiments: a column filter, a param condition, param + result
    #    (gen_data's final ``rmse`` is a result in MolExp and a metric in MLflow's copy)
    got = {}

    def search(key: str, url: str):
        def call():
            got[key] = len(get(url)()["results"])

        return call

    out["search_status_ms"] = common.timed(search("status", "/api/runs/?status=succeeded"), repeat)
    out["search_param_ms"] = common.timed(search("param", "/api/runs/?param=model=gcn"), repeat)
    out["search_param_metric_ms"] = common.timed(
        search("param_metric", "/api/runs/?param=model=gcn&result=rmse<0.5"), repeat
    )
    out["search_status_rows"] = got["status"]
    out["search_param_rows"] = got["param"]
    out["search_param_metric_rows"] = got["param_metric"]

    # 3. 10 000 metric points on one run: buffered log_metric + one flush; and a flush after every point
    run = Run.objects.get(pk=run_ids[0])
    execution = Execution.objects.filter(run=run).order_by("-number").first()
    ctx = RunContext(run=run, execution=execution, workdir=workdir)
    t0 = time.perf_counter()
    for k in range(cfg["n_points"]):
        ctx.log_metric("bench_loss", 1.0 / (k + 1), step=k)
    ctx.flush()
    out["points_batched_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for k in range(cfg["n_points_single"]):
        ctx.log_metric("bench_single", 1.0 / (k + 1), step=k)
        ctx.flush()
    out["points_single_s"] = time.perf_counter() - t0
    out["points_stored"] = Metric.objects.filter(run=run, key="bench_loss").count()

    # 4. one artifact: a tus upload with tuspy (creation, PATCHes of chunk_mib, finalize)
    ws = Workspace.objects.get(pk=compare_experiment.workspace_id)
    client = tus.TusClient(f"{base}/api/uploads/", headers={"Authorization": f"Token {token}"})
    meta = {"filename": f"bench-mlflow-{time.time_ns()}.bin", "workspace": str(ws.pk)}
    t0 = time.perf_counter()
    uploader = client.uploader(cfg["artifact_path"], chunk_size=cfg["chunk_mib"] * MIB, metadata=meta)
    uploader.upload()
    out["artifact_s"] = time.perf_counter() - t0

    # 5. list one experiment's runs: page 1 and the same deep page
    big, deep_page = cfg["big_experiment"], cfg["deep_offset"] // PAGE + 1
    rows = {}

    def page1():
        rows["p1"] = len(get(f"/api/runs/?experiment={big}")()["results"])

    # MolExp pages by keyset cursor: follow ``next`` to the deep page once, then time that page.
    url = f"/api/runs/?experiment={big}&page_size={PAGE}"
    for _ in range(deep_page - 1):
        following = get(url)()["next"]
        if not following:
            break
        url = following.split("://", 1)[1].split("/", 1)[1]
        url = "/" + url

    def deep(url=url):
        rows["deep"] = len(get(url)()["results"])

    out["list_page1_ms"] = common.timed(page1, repeat)
    out["list_deep_ms"] = common.timed(deep, repeat)
    out["list_rows"] = rows
    return out


def cleanup_molexp(experiment) -> None:
    """The compare runs were never executed (no worker): cancel them and drop their queued messages."""
    from bench_launch import purge

    from runs_app.models import Execution, Run

    purge()
    Execution.objects.filter(run__experiment=experiment, status="queued").update(status="cancelled")
    Run.objects.filter(experiment=experiment, status="queued").update(status="cancelled")


# --- report ---------------------------------------------------------------------------------------


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def main() -> None:
    common.setup()
    from runs_app.models import Run, Workspace
    from runs_app.services import experiment_create, project_create

    scale = common.scale_name()
    sizes = {**common.scale(), **SIZES.get(scale, SIZES["reduced"])}
    report = common.Report("mlflow")
    print(common.header())
    problem = ensure_venv()
    if problem:
        print(f"\n*** MLflow comparison SKIPPED: {problem}\n", flush=True)
        report.note(f"SKIPPED: {problem.splitlines()[0]}")
        report.add("MLflow comparison skipped (pip install failed)", p50=None, unit="", target="", ok=None)
        report.save()
        return

    meta = json.loads((common.VAR_DIR / "gen_meta.json").read_text())
    big = meta["big_experiment"]
    n_big = Run.objects.filter(experiment_id=big).count()
    deep_offset = (max(1, n_big // PAGE) - 1) * PAGE
    source = common.VAR_DIR / f"mlflow-artifact-{sizes['artifact_mib']}MiB.bin"
    if not source.exists() or source.stat().st_size != sizes["artifact_mib"] * MIB:
        block = os.urandom(MIB)
        with open(source, "wb") as fh:
            for k in range(sizes["artifact_mib"]):
                fh.write(block[:-8] + k.to_bytes(8, "big"))
    with open(source, "rb") as fh:  # both sides read it from the page cache
        while fh.read(16 * MIB):
            pass

    import random

    rng = random.Random(7)
    params = [{"lr": round(10 ** rng.uniform(-5, -1), 6), "batch_size": rng.choice([16, 32, 64, 128, 256]),
               "model": rng.choice(["gcn", "schnet", "mpnn"]), "dataset": rng.choice(["qm9", "esol"]),
               "seed": rng.randrange(1000)} for _ in range(50)]  # fmt: skip
    metrics = [{"rmse": round(rng.uniform(0.1, 2), 4), "mae": round(rng.uniform(0.05, 1.5), 4),
                "r2": round(rng.random(), 4)} for _ in range(50)]  # fmt: skip

    user = common.bench_user()
    ws = Workspace.objects.get(slug="bench-lab-0")
    import bench_launch

    for name, text in (("bench_noop.py", bench_launch.WORKFLOW), ("molcfg.yaml", bench_launch.MOLCFG)):
        if not (common.WORKFLOW_DIR / name).exists():
            (common.WORKFLOW_DIR / name).write_text(text)
    tag = uuid.uuid4().hex[:6]
    project = project_create(user=user, workspace=ws, name=f"MLflow compare {tag}")
    experiment = experiment_create(user=user, project=project, name="compare", workflow_source="bench_noop.py")

    recreate_mlflow_db()
    artifacts = common.VAR_DIR / "mlflow-artifacts"
    shutil.rmtree(artifacts, ignore_errors=True)  # the store is new: so is its artifact folder
    artifacts.mkdir(parents=True)
    ml_port, mx_port = free_port(), free_port()
    procs = []
    try:
        t0 = time.perf_counter()
        procs.append(start_mlflow(ml_port, artifacts))
        print(f"mlflow server up (schema created) in {time.perf_counter() - t0:.1f} s", flush=True)
        tracking = f"http://127.0.0.1:{ml_port}"
        copied = copy_molexp_runs(tracking)
        compare_id = mlflow_side("experiments", {"tracking_uri": tracking, "names": [f"compare {tag}"]})["ids"]
        cfg = {
            "tracking_uri": tracking, "repeat": sizes["list_repeat"], "n_create": sizes["create_runs"],
            "n_points": sizes["points"], "n_points_single": sizes["points_single"], "artifact_path": str(source),
            "chunk_mib": sizes["chunk_mib"], "page": PAGE, "deep_offset": deep_offset, "params": params,
            "metrics": metrics, "filters": FILTERS, "compare_experiment_id": compare_id[f"compare {tag}"],
            "search_experiment_ids": [str(v) for v in copied["exp_map"].values()],
            "big_experiment_id": str(copied["exp_map"][big]), "big_experiment": big,
        }  # fmt: skip
        print("measuring MLflow ...", flush=True)
        ml = mlflow_side("measure", cfg)
        stop(procs.pop())  # MLflow down while MolExp is measured: one server at a time on 2 cores
        procs.append(start_gunicorn(mx_port))
        print("measuring MolExp ...", flush=True)
        mx = molexp_side(mx_port, cfg, experiment, params, metrics)
    finally:
        for proc in procs:
            stop(proc)
        cleanup_molexp(experiment)
        shutil.rmtree(artifacts, ignore_errors=True)
        drop_mlflow_db()

    def lat(label: str, key: str, **extra):
        a, b = mx.get(key), ml.get(key)
        a50 = common.percentile(a, 50) if a else None
        b50 = common.percentile(b, 50)
        row = report.add(label, p50=round(a50, 2) if a50 is not None else None, unit="ms",
                         p95=round(common.percentile(a, 95), 2) if a else None,
                         mlflow_p50=round(b50, 2), mlflow_p95=round(common.percentile(b, 95), 2),
                         ratio=ratio(a50, b50), target="", **extra)  # fmt: skip
        return row

    def total(label: str, key: str, unit="s", **extra):
        a, b = mx.get(key), ml.get(key)
        report.add(label, p50=round(a, 3) if a is not None else None, unit=unit, mlflow_p50=round(b, 3),
                   ratio=ratio(a, b), target="", **extra)  # fmt: skip

    n = sizes["create_runs"]
    lat(f"create a run with 5 params + 3 metrics (per run, {n} runs)", "create_ms")
    total(f"  {n} runs created, wall time", "create_total_s")
    total(f"{n} runs with 5 params at once (MolExp: one sweep request)", "bulk_create_s")
    lat("search runs, all experiments, status filter, page 1", "search_status_ms",
        rows=(mx.get("search_status_rows"), ml.get("search_status_rows")))  # fmt: skip
    lat("search runs, all experiments, param filter (model = gcn)", "search_param_ms",
        rows=(mx.get("search_param_rows"), ml.get("search_param_rows")))  # fmt: skip
    lat("search runs, all experiments, param + metric filter (rmse < 0.5)", "search_param_metric_ms",
        rows=(mx.get("search_param_metric_rows"), ml.get("search_param_metric_rows")))  # fmt: skip
    total(f"log {sizes['points']:,} metric points (batched)", "points_batched_s",
          stored=(mx.get("points_stored"), ml.get("points_stored")))  # fmt: skip
    total(f"log {sizes['points_single']:,} metric points, one write each", "points_single_s")
    total(f"upload a {sizes['artifact_mib']} MiB artifact", "artifact_s",
          molexp_mb_s=round(sizes["artifact_mib"] * MIB / 1e6 / mx["artifact_s"], 1),
          mlflow_mb_s=round(sizes["artifact_mib"] * MIB / 1e6 / ml["artifact_s"], 1),
          mlflow_listed_size=ml.get("artifact_listed_size"))  # fmt: skip
    lat(f"list an experiment's runs ({n_big:,} of {copied['runs']:,}), page 1", "list_page1_ms")
    lat(f"list an experiment's runs, page {deep_offset // PAGE + 1} (offset {deep_offset:,})", "list_deep_ms",
        rows=(mx["list_rows"], ml["list_rows"]))  # fmt: skip
    report.note(f"MLflow {ml['mlflow_version']} server (1 worker) on PostgreSQL db {MLFLOW_DB}; MolExp gunicorn "
                f"(1 gthread worker x 4 threads); {copied['runs']:,} runs / {copied['metrics']:,} metric points "
                f"COPYed into MLflow's schema in {copied['seconds']} s")  # fmt: skip
    print()
    print(common.compare_header())
    for row in report.rows:
        print(common.format_compare_row(row))
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
