"""Launch → running latency with a real worker over Redis, sustained end-to-end launches/s
(0 lost, 0 run twice) and the bulk sweep acceptance rate. The workflow folder is a committed
git repository, so each launch captures a real git state.

A ``celery worker -Q runs`` subprocess (prefork, concurrency 2, as in the Procfile) gets the
bench database, Redis db 9 and a temporary workflow folder holding a one-task workflow.
Latency = ``Execution.started_at − Run.created_at`` (both written by the database clients'
clocks on this machine), one launch at a time on an idle worker. Sustained: N single-run
launches from PRODUCERS threads as fast as they go, until every run succeeded; throughput =
N / (last finished_at − first created_at). Sweep: ``run_launch`` of one N-cell sweep
with the worker stopped (its messages are purged afterwards).

Targets (SPEC §11): p50 ≤ 100 ms, p95 ≤ 300 ms; ≥ 50 runs/s sustained; ≥ 1 000 runs/s accepted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

WORKFLOW = """
from runs_app.workflow import Workflow

workflow = Workflow("noop")


@workflow.task
def noop(ctx, i: int = 0):
    return i
"""
MOLCFG = "version: 1\ndefaults: {}\nprofiles:\n  default: {}\n"
QUEUES = ("runs", "default")
#: Prefork children of the bench worker (the Procfile's ``--concurrency``).
CONCURRENCY = os.environ.get("BENCH_WORKER_CONCURRENCY", "2")
#: Threads calling run_launch concurrently in the sustained test (like several web workers).
PRODUCERS = int(os.environ.get("BENCH_PRODUCERS", "4"))


def purge() -> int:
    from molexp_site.celery import app

    dropped = 0
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in QUEUES:
            try:
                dropped += channel.queue_purge(queue) or 0
            except Exception as exc:  # never declared: nothing to purge
                if "not found" not in str(exc).lower() and "no such" not in str(exc).lower():
                    raise
    return dropped


def start_worker(log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "celery", "-A", "molexp_site", "worker", "-Q", "runs", "--concurrency", CONCURRENCY,
           "-n", f"bench-{uuid.uuid4().hex[:6]}@%h", "-l", "info", "--without-gossip", "--without-mingle"]  # fmt: skip
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, cwd=common.BASE_DIR, env=common.bench_env(), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited {proc.returncode}: {log_path.read_text()[-2000:]}")
        if " ready." in log_path.read_text(errors="replace"):
            return proc
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready: {log_path.read_text()[-2000:]}")


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    pgid = os.getpgid(proc.pid)
    os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)


def git_commit_workflows() -> None:
    """Keep the bench workflow in a git repository of its own, committed, as a team's workflow repo.

    Every launch pays for a real git state capture. The folder is its own repository even
    when it lies inside another work tree (``var/bench`` of a MolExp checkout): otherwise
    the capture would report that checkout, dirty with the result files the bench itself
    writes, and every run would carry a diff of them (``bench_sweep_dirty`` measures that
    case on purpose).
    """
    folder = common.WORKFLOW_DIR
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True)
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != folder.resolve():
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    subprocess.run(["git", "add", "bench_noop.py", "molcfg.yaml"], cwd=folder, check=True)
    subprocess.run(["git", *ident, "commit", "-q", "--allow-empty", "-m", "bench workflow"], cwd=folder, check=True)


def main() -> None:
    common.setup()
    (common.WORKFLOW_DIR / "bench_noop.py").write_text(WORKFLOW)
    (common.WORKFLOW_DIR / "molcfg.yaml").write_text(MOLCFG)
    git_commit_workflows()
    from django.db.models import Count, Max, Min, Q

    from runs_app.models import Execution, Run, RunEvent, Workspace
    from runs_app.services import experiment_create, project_create, run_launch

    sizes = common.scale()
    user = common.bench_user()
    report = common.Report("launch")
    print(common.header())
    ws = Workspace.objects.get(slug="bench-lab-0")
    tag = uuid.uuid4().hex[:6]
    project = project_create(user=user, workspace=ws, name=f"Launch bench {tag}")
    experiment = experiment_create(user=user, project=project, name="noop", workflow_source="bench_noop.py")
    purge()
    log_path = common.VAR_DIR / "bench-worker.log"
    worker = start_worker(log_path)
    try:
        # warm-up: the first runs import the workflow machinery in each pool child
        warm = [run_launch(user=user, experiment=experiment, params={"i": -k})[0].pk for k in range(4)]
        common.wait_until(lambda: Run.objects.filter(pk__in=warm, status="succeeded").count() == len(warm), timeout=60)

        # 1. launch → running, one at a time on an idle worker
        latencies, launch_ms = [], []
        for k in range(sizes["latency_runs"]):
            t0 = time.perf_counter()
            run = run_launch(user=user, experiment=experiment, params={"i": k})[0]
            launch_ms.append((time.perf_counter() - t0) * 1000)
            ex = Execution.objects.filter(run=run)
            if not common.wait_until(
                lambda ex=ex: ex.filter(started_at__isnull=False).exists(), timeout=30, interval=0.002
            ):
                raise RuntimeError(f"run {run.pk} never started; worker log: {log_path}")
            started = ex.values_list("started_at", flat=True).get()
            latencies.append((started - run.created_at).total_seconds() * 1000)
            common.wait_until(lambda run=run: Run.objects.filter(pk=run.pk, finished_at__isnull=False).exists(), timeout=30,
                              interval=0.005)  # fmt: skip
        report.latency("launch → running (Redis, idle worker)", latencies, p50_max=100, p95_max=300)
        report.latency("run_launch call (one run, API-side)", launch_ms)

        # 2. sustained end-to-end
        n = sizes["sustained_runs"]
        from concurrent.futures import ThreadPoolExecutor

        from django.db import connection

        def sustained(produce, *, after=None) -> dict:
            """``n`` launches by ``produce`` from PRODUCERS threads (``after(pool)`` before the pool closes),
            then until every run finished: the rate end to end, the producers' rate, lost and run twice."""
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=PRODUCERS) as pool:
                ids = list(pool.map(produce, range(n)))
                if after:
                    after(pool)
            produce_s = time.perf_counter() - t0
            done = common.wait_until(
                lambda: Run.objects.filter(pk__in=ids, finished_at__isnull=False).count() == n,
                timeout=300,
                interval=0.2,
            )
            runs = Run.objects.filter(pk__in=ids)
            span = runs.aggregate(first=Min("created_at"), last=Max("finished_at"))
            seconds = (span["last"] - span["first"]).total_seconds() if done else float("nan")
            multi = runs.annotate(n=Count("executions")).filter(n__gt=1).count()
            twice = (
                RunEvent.objects.filter(run_id__in=ids, subject="execution", to_status="running")
                .values("execution_id").annotate(n=Count("id")).filter(n__gt=1).count()
            )  # fmt: skip
            return {"done": done, "rate": n / seconds if seconds else 0.0, "produce_rate": n / produce_s,
                    "lost": n - runs.filter(status="succeeded").count(), "twice": multi + twice, "seconds": seconds}  # fmt: skip

        def produce(k: int) -> int:
            try:
                return run_launch(user=user, experiment=experiment, params={"i": 10_000 + k})[0].pk
            finally:
                connection.close()  # this thread's connection

        m = sustained(produce)
        lost, twice, rate = m["lost"], m["twice"], m["rate"]
        report.add(f"sustained launches end to end ({n} runs, {PRODUCERS} producers)", p50=round(rate, 1), unit="runs/s",
                   target="≥ 50 runs/s, 0 lost, 0 twice", ok=m["done"] and rate >= 50 and lost == 0 and twice == 0,
                   lost=lost, run_twice=twice, produce_rate=round(m["produce_rate"], 1),
                   seconds=round(m["seconds"], 2))  # fmt: skip
        report.add(
            "  of which: producers' launch rate (one run per call)", p50=round(m["produce_rate"], 1), unit="runs/s"
        )
        report.add("  lost / run twice", p50=f"{lost} / {twice}", unit="", target="0 / 0", ok=lost == 0 and twice == 0)

        # 2b. reference: the same, each producer thread keeping its database connection across its launches
        # (as a deployed web thread does with DB_CONN_MAX_AGE, 60 s by default); the row above opens one per launch
        barrier = threading.Barrier(PRODUCERS)

        def produce_kept(k: int) -> int:
            return run_launch(user=user, experiment=experiment, params={"i": 20_000 + k})[0].pk

        def close_own(_: int) -> None:
            barrier.wait(timeout=60)  # one call per thread: each waits for the others
            connection.close()

        kept = sustained(produce_kept, after=lambda pool: list(pool.map(close_own, range(PRODUCERS))))
        report.add(f"  reference: the same, producers keeping their connections ({n} runs)",
                   p50=round(kept["rate"], 1), unit="runs/s", target="reference", lost=kept["lost"],
                   run_twice=kept["twice"], produce_rate=round(kept["produce_rate"], 1))  # fmt: skip
    finally:
        stop_worker(worker)

    # 3. bulk sweep acceptance (no worker: only the launch transaction and the dispatch)
    cells = sizes["sweep_cells"]
    rates = []
    for rep in range(3):
        t0 = time.perf_counter()
        created = run_launch(user=user, experiment=experiment, sweep={"i": list(range(cells)), "rep": [rep]})
        rates.append(len(created) / (time.perf_counter() - t0))
    purge()
    Execution.objects.filter(run__experiment=experiment, status="queued").update(status="cancelled")
    Run.objects.filter(experiment=experiment).filter(Q(status="queued")).update(status="cancelled")
    rates.sort()
    report.add(f"bulk sweep accepted ({cells} cells, median of 3)", p50=round(rates[1], 1), unit="runs/s",
               target="≥ 1 000 runs/s", ok=rates[1] >= 1000, all=[round(r, 1) for r in rates])  # fmt: skip

    # 3b. the same from a dirty work tree: every run's snapshot carries a 64 KB uncommitted diff
    notes = common.WORKFLOW_DIR / "NOTES.md"
    notes.write_text("notes\n")
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "add", "NOTES.md"], cwd=common.WORKFLOW_DIR, check=True)
    subprocess.run(["git", *ident, "commit", "-q", "--allow-empty", "-m", "notes"], cwd=common.WORKFLOW_DIR, check=True)
    notes.write_text("".join(f"line {k}: uncommitted analysis notes\n" for k in range(2000)))
    dirty = []
    # Each run stores the ~78 KB diff: 1 000 of them would pass MOLEXP_LAUNCH_MAX_TOTAL_BYTES (64 MiB, issue 12),
    # which refuses such a launch; 500 cells (~38 MiB) stay inside the bound.
    dirty_cells = min(cells, 500)
    try:
        for rep in range(3):
            t0 = time.perf_counter()
            created = run_launch(user=user, experiment=experiment,
                                 sweep={"i": list(range(dirty_cells)), "rep": [10 + rep]})  # fmt: skip
            dirty.append(len(created) / (time.perf_counter() - t0))
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "NOTES.md"], cwd=common.WORKFLOW_DIR, check=True)
    purge()
    Execution.objects.filter(run__experiment=experiment, status="queued").update(status="cancelled")
    Run.objects.filter(experiment=experiment).filter(Q(status="queued")).update(status="cancelled")
    dirty.sort()
    diff_kb = round(len(created[0].workflow_snapshot.get("git_diff", "")) / 1024)
    report.add(f"bulk sweep, dirty tree ({dirty_cells} cells, {diff_kb} KB diff in every snapshot)", p50=round(dirty[1], 1),
               unit="runs/s", target="reference", all=[round(r, 1) for r in dirty])  # fmt: skip
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
