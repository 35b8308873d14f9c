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
against ``mlflow server`` on the same PostgreSQL; each call returns once its server stored the data.
Both servers run for the whole bench and the two sides alternate operation by operation (lines and
the file ``ROUNDS`` times each, who goes first alternating), so a change of load on a shared machine
hits both; the figures are medians. Ratios are MolExp time / MLflow time (below 1: MolExp is
faster). The note also gives the bench's own f-string loop alone (the same work on both sides).
"""

from __future__ import annotations

import json
import os
import statistics
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

#: Lines and the file are measured this many times, MolExp and MLflow alternating (who goes first
#: alternates too); the figures are medians. Points once each (MLflow's 200 requests are slow).
#: Five rounds, not three: on the benchmark VMs one 64 MiB round of either side can take twice its
#: median (page-cache faults, session 24), and a median of three moved the ratio by ±0.3.
ROUNDS = 5

#: The MLflow side: a process of the MLflow venv that runs one operation per line read from stdin
#: (``points``, ``lines``, ``artifact``) on one run and answers with its time, as JSON on one line.
MLFLOW_SIDE = r"""
import json, sys, time
from mlflow import MlflowClient
from mlflow.entities import Metric
cfg = json.loads(sys.stdin.readline())
client = MlflowClient(cfg["tracking_uri"])
exp = client.create_experiment(f"client-bench-{time.time()}")
rid = client.create_run(exp).info.run_id
print(json.dumps({"ready": True}), flush=True)
for op in sys.stdin:
    op = op.strip()
    t0 = time.perf_counter()
    if op == "points":
        base = int(time.time() * 1000)
        for start in range(0, cfg["points"], 1000):
            client.log_batch(rid, metrics=[Metric("loss", 1.0 / (k + 1), base + k, k) for k in range(start, min(cfg["points"], start + 1000))])
    elif op == "lines":
        client.log_text(rid, "\n".join(f"step {i} loss {1.0 / (i + 1):.6f}" for i in range(cfg["lines"])), "train.log")
    elif op == "artifact":
        client.log_artifact(rid, cfg["artifact_path"])
    elif op == "end":
        client.set_terminated(rid)
        break
    print(json.dumps({"s": time.perf_counter() - t0}), flush=True)
"""


class MolexpSide:
    """One external run through the ``molexp`` client; each operation is timed from its first call to the
    moment the server has everything (``ctx.flush()`` returns; the background sender works meanwhile)."""

    def __init__(self, url: str, token: str, sizes: dict, artifact: Path) -> None:
        sys.path.insert(0, str(common.BASE_DIR / "client" / "src"))
        import molexp

        self.sizes, self.artifact, self.loops, self.saved = sizes, artifact, {}, 0
        self.run = molexp.Client(url=url, token=token).start_run(
            "bench-client/bench/client", create_experiment=True, script=__file__
        )
        self.ctx = self.run.__enter__()

    def __call__(self, op: str) -> float:
        ctx, sizes = self.ctx, self.sizes
        t0 = time.perf_counter()
        if op == "points":
            for k in range(sizes["points"]):
                ctx.log_metric("loss", 1.0 / (k + 1), step=k)
            self.loops.setdefault(op, []).append(time.perf_counter() - t0)
        elif op == "lines":
            log = ctx.log("train")
            for i in range(sizes["lines"]):
                log.append(f"step {i} loss {1.0 / (i + 1):.6f}")
            self.loops.setdefault(op, []).append(time.perf_counter() - t0)
        elif op == "artifact":
            self.saved += 1
            ctx.artifact.save(f"weights-{self.saved}.bin", self.artifact)
        ctx.flush()  # until the server has it
        return time.perf_counter() - t0

    def close(self) -> int:
        self.run.__exit__(None, None, None)
        return self.ctx.id


class MlflowSide:
    def __init__(self, cfg: dict) -> None:
        import bench_mlflow as bm

        self.proc = subprocess.Popen([str(bm.venv_python()), "-c", MLFLOW_SIDE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self._ask(json.dumps(cfg))

    def _ask(self, line: str) -> dict:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            self.proc.wait(timeout=60)
            raise RuntimeError(self.proc.stderr.read()[-2000:])
        return json.loads(answer)

    def __call__(self, op: str) -> float:
        return self._ask(op)["s"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("end\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=600)


def fstring_loop_s(lines: int) -> float:
    """The bench's own workload alone (the same f-strings both sides build), nothing sent."""
    t0 = time.perf_counter()
    for i in range(lines):
        _ = f"step {i} loss {1.0 / (i + 1):.6f}"
    return time.perf_counter() - t0


def main() -> None:
    common.setup()
    import bench_mlflow as bm
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from runs_app.models import Metric, Project, Run, Workspace
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
    problem = None
    if not bm.venv_python().exists():
        problem = f"no MLflow venv at {bm.MLFLOW_VENV} (bench_mlflow.py makes it): MLflow ratios skipped"
    port = bm.free_port()
    server = bm.start_gunicorn(port)
    mlflow_server = mlflow = None
    times: dict[str, dict[str, list[float]]] = {"molexp": {}, "mlflow": {}}
    try:
        mx = MolexpSide(f"http://127.0.0.1:{port}", token, sizes, artifact)
        if problem is None:
            try:
                bm.recreate_mlflow_db()
                mlflow_port = bm.free_port()
                mlflow_server = bm.start_mlflow(mlflow_port, Path(tempfile.mkdtemp()))
                mlflow = MlflowSide({"tracking_uri": f"http://127.0.0.1:{mlflow_port}", "points": sizes["points"],
                                     "lines": sizes["lines"], "artifact_path": str(artifact)})  # fmt: skip
            except Exception as exc:  # the MLflow side is a comparison, never a reason to lose the MolExp figures
                problem = f"MLflow side failed to start: {type(exc).__name__}: {str(exc)[:500]}"
        schedule = [("points", 0)] + [(op, r) for r in range(ROUNDS) for op in ("lines", "artifact")]
        fstrings = []
        for op, r in schedule:
            sides = [("molexp", mx), ("mlflow", mlflow)] if r % 2 == 0 else [("mlflow", mlflow), ("molexp", mx)]
            for name, side in sides:
                if side is None:
                    continue
                try:
                    times[name].setdefault(op, []).append(side(op))
                except Exception as exc:
                    if name == "molexp":
                        raise
                    problem, mlflow = f"MLflow side failed: {type(exc).__name__}: {str(exc)[:500]}", None
            if op == "lines":
                fstrings.append(fstring_loop_s(sizes["lines"]))
        run_id = mx.close()
        if mlflow is not None:
            mlflow.close()
    finally:
        bm.stop(server)
        if mlflow_server is not None:
            bm.stop(mlflow_server)
            bm.drop_mlflow_db()
    run = Run.objects.get(pk=run_id)
    stored_points = Metric.objects.filter(run=run).count()
    mxt = {op: statistics.median(values) for op, values in times["molexp"].items()}
    points_rate = sizes["points"] / mxt["points"]
    lines_rate = sizes["lines"] / mxt["lines"]
    mib_s = sizes["artifact_mib"] / mxt["artifact"]
    report.add("client log_metric, points/s (loop + until stored)", p50=round(points_rate), unit="/s",
               target="≥ 10 000", ok=points_rate >= 10_000 and stored_points == sizes["points"],
               loop_rate=round(sizes["points"] / statistics.median(mx.loops["points"])))  # fmt: skip
    report.add("client log().append, lines/s (loop + until stored)", p50=round(lines_rate), unit="/s",
               target="≥ 100 000", ok=lines_rate >= 100_000,
               loop_rate=round(sizes["lines"] / statistics.median(mx.loops["lines"])))  # fmt: skip
    report.add(f"client artifact {sizes['artifact_mib']} MiB over tus, MiB/s", p50=round(mib_s, 1), unit="MiB/s")
    if problem is None:
        for key, what in (("points", "metric points"), ("lines", "log lines"), ("artifact", "artifact")):
            mlt = statistics.median(times["mlflow"][key])
            ratio = mxt[key] / mlt
            per_round = [round(a / b, 2) for a, b in zip(times["molexp"][key], times["mlflow"][key], strict=True)]
            report.add(f"ratio MolExp/MLflow: {what}", p50=round(ratio, 3), unit="×", target="< 1", ok=ratio < 1,
                       molexp_s=round(mxt[key], 3), mlflow_s=round(mlt, 3), rounds=per_round)  # fmt: skip
    else:
        report.add("ratio MolExp/MLflow", p50=None, unit="×", target="skipped", ok=None, skipped=problem)
        report.note(problem)
    report.note(json.dumps({"seconds": {side: {op: [round(v, 3) for v in values] for op, values in ops.items()}
                                        for side, ops in times.items()},
                            "molexp_loop_s": {op: [round(v, 3) for v in values] for op, values in mx.loops.items()},
                            "fstring_loop_alone_s": [round(v, 3) for v in fstrings],
                            "stored_points": stored_points, "status": run.status,
                            "load_average": [round(v, 2) for v in os.getloadavg()]}))  # fmt: skip
    print(f"saved {report.save()}")


def _has_bench_user() -> bool:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=common.BENCH_USER).exists()


def _make_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username=common.BENCH_USER, password=None)


if __name__ == "__main__":
    main()
