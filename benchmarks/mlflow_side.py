"""The MLflow half of ``bench_mlflow.py``. Runs ONLY with the MLflow venv's python (it imports
``mlflow``, never Django or the project): it talks to a real ``mlflow server`` over HTTP with
``MlflowClient`` and prints one JSON object on the last line of stdout.

    <mlflow-venv>/bin/python benchmarks/mlflow_side.py experiments < cfg.json   # create experiments
    <mlflow-venv>/bin/python benchmarks/mlflow_side.py measure < cfg.json       # the timed operations

Times are milliseconds from ``time.perf_counter`` around each client call (after 2 untimed
warm-up calls where repeated); the parent computes p50/p95 the same way for both sides.
"""

from __future__ import annotations

import json
import sys
import time


def timed(fn, repeat: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def experiments(cfg: dict) -> dict:
    """Create one experiment per name (the store is new); returns ``{name: experiment_id}``."""
    from mlflow import MlflowClient

    client = MlflowClient(cfg["tracking_uri"])
    return {"ids": {name: client.create_experiment(name) for name in cfg["names"]}}


def measure(cfg: dict) -> dict:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from mlflow.utils.search_utils import SearchUtils

    client = MlflowClient(cfg["tracking_uri"])
    repeat = cfg["repeat"]
    out: dict = {"mlflow_version": mlflow.__version__}
    exp = cfg["compare_experiment_id"]

    # 1. create runs with params and metrics: create_run + log_batch(5 params, 3 metrics) + set_terminated
    def create_one(k: int) -> str:
        now = int(time.time() * 1000)
        run = client.create_run(exp, run_name=f"bench-{k}", start_time=now)
        rid = run.info.run_id
        params = [Param(key, str(value)) for key, value in cfg["params"][k % len(cfg["params"])].items()]
        metrics = [Metric(key, value, now, 0) for key, value in cfg["metrics"][k % len(cfg["metrics"])].items()]
        client.log_batch(rid, metrics=metrics, params=params)
        client.set_terminated(rid)
        return rid

    for k in range(2):
        create_one(-1 - k)
    samples = []
    t_all = time.perf_counter()
    run_ids = []
    for k in range(cfg["n_create"]):
        t0 = time.perf_counter()
        run_ids.append(create_one(k))
        samples.append((time.perf_counter() - t0) * 1000)
    out["create_ms"] = samples
    out["create_total_s"] = time.perf_counter() - t_all

    # 1b. many runs with params at once: MLflow has no bulk create, so N × (create_run + log_batch(params))
    t0 = time.perf_counter()
    for k in range(cfg["n_create"]):
        rid = client.create_run(exp, run_name=f"bulk-{k}").info.run_id
        client.log_batch(rid, params=[Param(key, str(v)) for key, v in cfg["params"][k % len(cfg["params"])].items()])
    out["bulk_create_s"] = time.perf_counter() - t0

    # 2. search runs across every experiment by a status / param / param+metric filter, page of 50
    all_ids = cfg["search_experiment_ids"]
    for label, filt in cfg["filters"].items():
        got = {}

        def search(filt=filt, got=got):
            page = client.search_runs(all_ids, filter_string=filt, max_results=cfg["page"])
            got["n"] = len(page)

        out[f"search_{label}_ms"] = timed(search, repeat)
        out[f"search_{label}_rows"] = got["n"]

    # 3. 10 000 metric points on one run: log_batch of 1 000 (the API's maximum) × 10, and log_metric one by one
    rid = run_ids[0]
    n_points = cfg["n_points"]
    t0 = time.perf_counter()
    base = int(time.time() * 1000)
    for start in range(0, n_points, 1000):
        batch = [Metric("bench_loss", 1.0 / (k + 1), base + k, k) for k in range(start, min(n_points, start + 1000))]
        client.log_batch(rid, metrics=batch)
    out["points_batched_s"] = time.perf_counter() - t0
    n_single = cfg["n_points_single"]
    t0 = time.perf_counter()
    for k in range(n_single):
        client.log_metric(rid, "bench_single", 1.0 / (k + 1), step=k)
    out["points_single_s"] = time.perf_counter() - t0
    stored = client.get_metric_history(rid, "bench_loss")
    out["points_stored"] = len(stored)

    # 4. one artifact through the server (--serve-artifacts: an HTTP PUT streamed to the artifact root)
    t0 = time.perf_counter()
    client.log_artifact(rid, cfg["artifact_path"])
    out["artifact_s"] = time.perf_counter() - t0
    listed = client.list_artifacts(rid)
    out["artifact_listed_size"] = max((f.file_size or 0) for f in listed) if listed else 0

    # 5. list one experiment's runs: page 1 and a deep page (offset page token, as the server's own)
    big = cfg["big_experiment_id"]
    got = {}

    def page1():
        got["p1"] = len(client.search_runs([big], max_results=cfg["page"]))

    out["list_page1_ms"] = timed(page1, repeat)
    token = SearchUtils.create_page_token(cfg["deep_offset"])
    token = token.decode() if isinstance(token, bytes) else token

    def deep():
        got["deep"] = len(client.search_runs([big], max_results=cfg["page"], page_token=token))

    out["list_deep_ms"] = timed(deep, repeat)
    out["list_rows"] = got
    return out


def main() -> None:
    command = sys.argv[1]
    cfg = json.loads(sys.stdin.read())
    result = {"experiments": experiments, "measure": measure}[command](cfg)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
