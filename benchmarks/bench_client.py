"""The ``molexp`` client over HTTP (SPEC §13), and the same operations with the MLflow client as ratios.

    python benchmarks/bench_client.py [--scale=reduced|full]     (run_all.py runs it after mlflow)

MolExp: gunicorn (gthread, 1 worker × 4 threads, as ``bench_mlflow.py``) on the bench database; the
client (``client/src``) records one external run and measures, from the first call to the moment the
server has everything (``ctx.flush()`` returns; the background sender works during the loop, as in
real use; the block's exit finishes the run):

- ``log_metric`` points/s (target ≥ 10 000),
- ``log(name).append`` lines/s (target ≥ 100 000),
- one artifact file over the tus endpoint, MB/s.

MLflow (only when ``bench_mlflow.py`` made its venv, ``<var>/mlflow-venv``; else a skip row): the same
points through ``MlflowClient.log_batch`` (1 000 per call, its maximum), the same lines as one
``log_text`` artifact (MLflow has no appendable log), the same file through ``log_artifact``,
against ``mlflow server`` on the same PostgreSQL. Ratios are MolExp time / MLflow time (below 1:
MolExp is faster).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SIZES = {
    "reduced": {"points": 200_000, "lines": 500_000, "artifact_mib": 64},
    "full": {"points": 1_000_000, "lines": 2_000_000, "artifact_mib": 512},
}
MIB = 1024 * 1024

MLFLOW_SIDE = r"""
import json, sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric
cfg = json.loads(sys.stdin.read())
client = MlflowClient(cfg["tracking_uri"])
exp = client.create_experiment(f"client-bench-{time.time()}")
rid = client.create_run(exp).info.run_id
out = {}
t0 = time.perf_counter(); base = int(time.time() * 1000)
for start in range(0, cfg["points"], 1000):
    client.log_batch(rid, metrics=[Metric("loss", 1.0 / (k + 1), base + k, k) for k in range(start, min(cfg["points"], start + 1000))])
out["points_s"] = time.perf_counter() - t0
t0 = time.perf_counter()
client.log_text(rid, "\n".join(f"step {i} loss {1.0 / (i + 1):.6f}" for i in range(cfg["lines"])), "train.log")
out["lines_s"] = time.perf_counter() - t0
t0 = time.perf_counter()
client.log_artifact(rid, cfg["artifact_path"])
out["artifact_s"] = time.perf_counter() - t0
client.set_terminated(rid)
print(json.dumps(out))
"""


def molexp_side(url: str, token: str, sizes: dict, artifact: Path) -> dict:
    sys.path.insert(0, str(common.BASE_DIR / "client" / "src"))
    import molexp

    client = molexp.Client(url=url, token=token)
    out = {}
    exp = "bench-client/bench/client"
    with client.start_run(exp, create_experiment=True, script=__file__) as ctx:
        t0 = time.perf_counter()
        for k in range(sizes["points"]):
            ctx.log_metric("loss", 1.0 / (k + 1), step=k)
        out["points_loop_s"] = time.perf_counter() - t0
        ctx.flush()  # until the server has them (the background sender ran during the loop, as in real use)
        out["points_s"] = time.perf_counter() - t0
        log = ctx.log("train")
        t0 = time.perf_counter()
        for i in range(sizes["lines"]):
            log.append(f"step {i} loss {1.0 / (i + 1):.6f}")
        out["lines_loop_s"] = time.perf_counter() - t0
        ctx.flush()
        out["lines_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ctx.artifact.save("weights.bin", artifact)
        ctx.flush()
        out["artifact_s"] = time.perf_counter() - t0
        run_id = ctx.id
    from runs_app.models import Metric, Run

    run = Run.objects.get(pk=run_id)
    out["stored_points"] = Metric.objects.filter(run=run).count()
    out["status"] = run.status
    return out


def main() -> None:
    common.setup()
    import bench_mlflow as bm
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from runs_app.models import Project, Workspace
    from runs_app.services import project_create, workspace_create

    sizes = SIZES[common.scale_name()]
    report = common.Report("client")
    call_command("migrate", verbosity=0)
    user = common.bench_user() if _has_bench_user() else _make_user()
    ws = Workspace.objects.filter(slug="bench-client").first() or workspace_create(user=user, name="bench-client")
    if not Project.objects.filter(workspace=ws, slug="bench").exists():
        project_create(user=user, workspace=ws, name="bench")
    token = Token.objects.get_or_create(user=user)[0].key
    artifact = Path(tempfile.mkdtemp()) / "weights.bin"
    with open(artifact, "wb") as fh:
        chunk = bytes(range(256)) * 4096
        for _ in range(sizes["artifact_mib"]):
            fh.write(chunk)
    port = bm.free_port()
    server = bm.start_gunicorn(port)
    try:
        mx = molexp_side(f"http://127.0.0.1:{port}", token, sizes, artifact)
    finally:
        bm.stop(server)
    points_rate = sizes["points"] / mx["points_s"]
    lines_rate = sizes["lines"] / mx["lines_s"]
    mib_s = sizes["artifact_mib"] / mx["artifact_s"]
    report.add("client log_metric, points/s (loop + until stored)", p50=round(points_rate), unit="/s",
               target="≥ 10 000", ok=points_rate >= 10_000 and mx["stored_points"] == sizes["points"],
               loop_rate=round(sizes["points"] / mx["points_loop_s"]))  # fmt: skip
    report.add("client log().append, lines/s (loop + until stored)", p50=round(lines_rate), unit="/s",
               target="≥ 100 000", ok=lines_rate >= 100_000, loop_rate=round(sizes["lines"] / mx["lines_loop_s"]))  # fmt: skip
    report.add(f"client artifact {sizes['artifact_mib']} MiB over tus, MiB/s", p50=round(mib_s, 1), unit="MiB/s")
    problem = None
    if not bm.venv_python().exists():
        problem = f"no MLflow venv at {bm.MLFLOW_VENV} (bench_mlflow.py makes it): MLflow ratios skipped"
    if problem is None:
        try:
            bm.recreate_mlflow_db()
            mlflow_port = bm.free_port()
            mlflow_server = bm.start_mlflow(mlflow_port, Path(tempfile.mkdtemp()))
            try:
                cfg = {"tracking_uri": f"http://127.0.0.1:{mlflow_port}", "points": sizes["points"],
                       "lines": sizes["lines"], "artifact_path": str(artifact)}  # fmt: skip
                result = subprocess.run([str(bm.venv_python()), "-c", MLFLOW_SIDE], input=json.dumps(cfg),
                                        capture_output=True, text=True, timeout=3600)  # fmt: skip
                if result.returncode != 0:
                    raise RuntimeError(result.stderr[-2000:])
                ml = json.loads(result.stdout.strip().splitlines()[-1])
            finally:
                bm.stop(mlflow_server)
                bm.drop_mlflow_db()
            for key, what in (("points_s", "metric points"), ("lines_s", "log lines"), ("artifact_s", "artifact")):
                ratio = mx[key] / ml[key]
                report.add(f"ratio MolExp/MLflow: {what}", p50=round(ratio, 3), unit="×", target="< 1", ok=ratio < 1,
                           molexp_s=round(mx[key], 3), mlflow_s=round(ml[key], 3))  # fmt: skip
        except Exception as exc:  # the MLflow side is a comparison, never a reason to lose the MolExp figures
            problem = f"MLflow side failed: {type(exc).__name__}: {str(exc)[:500]}"
    if problem:
        report.add("ratio MolExp/MLflow", p50=None, unit="×", target="skipped", ok=None, skipped=problem)
        report.note(problem)
    report.note(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in mx.items()}))
    print(f"saved {report.save()}")


def _has_bench_user() -> bool:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=common.BENCH_USER).exists()


def _make_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=common.BENCH_USER, password=None)


if __name__ == "__main__":
    main()
