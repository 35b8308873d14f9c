"""Seeded bench data, loaded through COPY: runs (params, results, metrics, executions, task
executions, events) across workspaces/projects/experiments, and assets of every kind whose
text follows a Zipf word distribution.

    python benchmarks/gen_data.py [--scale=reduced|full]

Expects a freshly migrated, empty ``molexp_bench`` (``run_all.py`` makes one). Ids are
assigned here and the identity sequences are moved past them afterwards. ``search_text``
is built with the service's own ``_search_text`` (name, tags, description, metadata and the
extra text a log or trace contributes); PostgreSQL computes ``search_vector`` itself.
The asset table's secondary indexes are dropped during the COPY and recreated from their
exact definitions (``pg_indexes``) afterwards: the same indexes, built once.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SEED = 20240501
VOCAB_SIZE = 50_000
ZIPF_S = 1.07

# Words the search benchmark asks for, by Zipf rank (1 = most common).
RARE_RANK, MID_RANK, COMMON_RANK = 20_000, 300, 1

_SYLLABLES = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "ai", "eo", "ou")]


def vocabulary(rng: random.Random) -> list[str]:
    """``VOCAB_SIZE`` distinct lowercase pseudo-words (2–4 syllables); index = Zipf rank − 1."""
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < VOCAB_SIZE:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 4))))
        if word not in seen and word not in ("and", "or", "not"):
            seen.add(word)
            words.append(word)
    return words


def zipf_pool(rng: random.Random, words: list[str], n: int) -> list[str]:
    weights = [1.0 / (k**ZIPF_S) for k in range(1, len(words) + 1)]
    cum = list(itertools.accumulate(weights))
    total = cum[-1]
    return [words[bisect.bisect_left(cum, rng.random() * total)] for _ in range(n)]


class Words:
    """Cheap Zipf-distributed text: slices of a large pre-drawn pool."""

    def __init__(self, rng: random.Random, words: list[str], pool_size: int = 1_000_003) -> None:
        self.rng = rng
        self.words = words
        self.pool = zipf_pool(rng, words, pool_size)

    def text(self, n: int) -> str:
        start = self.rng.randrange(0, len(self.pool) - n)
        return " ".join(self.pool[start : start + n])


STATUSES = [("succeeded", 80), ("failed", 12), ("cancelled", 3), ("lost", 2), ("running", 2), ("queued", 1)]
TASKS = ["prepare", "featurize", "train", "evaluate"]
MODELS = ["gcn", "schnet", "dimenet", "mpnn", "rf", "xgboost", "transformer"]
DATASETS = ["qm9", "zinc250k", "esol", "freesolv", "lipophilicity", "tox21", "chembl-subset", "pcqm4m"]
EXC = [
    ("ValueError", "could not convert string to float: {w}"),
    ("KeyError", "'{w}'"),
    ("RuntimeError", "CUDA out of memory while running {w}"),
    ("FileNotFoundError", "[Errno 2] No such file or directory: '/scratch/{w}.sdf'"),
    ("ZeroDivisionError", "division by zero in {w}"),
    ("rdkit.Chem.rdchem.AtomValenceException", "Explicit valence for atom # 3 N, 4, is greater than permitted ({w})"),
]


def copy_rows(conn, table: str, columns: list[str], rows) -> int:
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def reset_sequences(conn, tables: list[str]) -> None:
    with conn.cursor() as cur:
        for table in tables:
            # Fixed table names of this script, never input.
            sql = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 1))"  # noqa: S608
            cur.execute(sql)


def main() -> None:
    common.setup()
    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection

    from assets_app.models import Asset
    from assets_app.services.registration import _search_text
    from assets_app.services.run_assets import error_fingerprint
    from runs_app.choices import Role
    from runs_app.fingerprint import run_fingerprint
    from runs_app.models import Experiment, Membership, Project, Run, Workspace

    sizes = common.scale()
    rng = random.Random(SEED)
    t_all = time.perf_counter()
    if Run.objects.exists() or Asset.objects.exists():
        raise SystemExit("the bench database already holds data; run_all.py recreates it")

    # --- users, workspaces, projects, experiments (ORM: a few hundred rows) ---
    User = get_user_model()
    user = User.objects.create_user(common.BENCH_USER, password="bench-password-1", email="bench@example.org")
    other = User.objects.create_user("bench-other", password="bench-password-1")
    workspaces = [
        Workspace.objects.create(name=f"Lab {i}", slug=f"bench-lab-{i}", created_by=user)
        for i in range(sizes["workspaces"])
    ]
    Membership.objects.bulk_create(
        [Membership(workspace=ws, user=user, role=Role.OWNER) for ws in workspaces]
        + [Membership(workspace=ws, user=other, role=Role.VIEWER) for ws in workspaces[:1]]
    )
    projects = Project.objects.bulk_create(
        [
            Project(workspace=ws, name=f"{rng.choice(DATASETS)} study {i}", slug=f"p{i}", created_by=user)
            for ws in workspaces
            for i in range(sizes["projects_per_ws"])
        ]
    )
    experiments = Experiment.objects.bulk_create(
        [
            Experiment(
                project=p,
                workspace_id=p.workspace_id,
                name=f"{rng.choice(MODELS)} sweep {i}",
                slug=f"e{i}",
                workflow_source="bench_noop.py",
                created_by=user,
            )  # fmt: skip
            for p in projects
            for i in range(sizes["experiments_per_project"])
        ]
    )
    print(f"{len(workspaces)} workspaces, {len(projects)} projects, {len(experiments)} experiments", flush=True)

    conn = psycopg.connect(common.DATABASE_URL.replace("postgres://", "postgresql://"), autocommit=False)
    # Every row loaded below references rows generated here (ids assigned in this script), so the
    # foreign-key triggers are skipped while loading: Django's constraints are DEFERRABLE INITIALLY
    # DEFERRED, and PostgreSQL otherwise checks each reference at COMMIT (at SCALE=huge ~70 M lookups
    # with row locks, more than a quarter of an hour). Needs a superuser (the bench's trust-auth
    # ``postgres``); another role loads with the checks.
    try:
        with conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()

    # --- runs ---
    n_runs = sizes["runs"]
    big = experiments[0]
    n_big = int(n_runs * sizes["big_experiment_share"])
    exp_of_run = [big] * n_big + [rng.choice(experiments[1:]) for _ in range(n_runs - n_big)]
    rng.shuffle(exp_of_run)
    counters: dict[int, int] = {}
    start = datetime.now(UTC) - timedelta(days=365)
    span = 364 * 86400
    status_pop = [s for s, _ in STATUSES]
    status_w = [w for _, w in STATUSES]
    run_status: list[str] = []
    run_rows = []
    for i in range(n_runs):
        rid = i + 1
        exp = exp_of_run[i]
        counters[exp.pk] = counters.get(exp.pk, 0) + 1
        status = rng.choices(status_pop, status_w)[0]
        run_status.append(status)
        created = start + timedelta(seconds=span * i / n_runs)
        started = created + timedelta(seconds=rng.uniform(0.05, 5))
        finished = started + timedelta(seconds=rng.uniform(5, 7200)) if status not in ("running", "queued") else None
        params = {"lr": round(10 ** rng.uniform(-5, -1), 6), "batch_size": rng.choice([16, 32, 64, 128, 256]),
                  "model": rng.choice(MODELS), "dataset": rng.choice(DATASETS), "seed": rng.randrange(1000)}  # fmt: skip
        results = (
            {
                "rmse": round(rng.uniform(0.1, 2.0), 4),
                "mae": round(rng.uniform(0.05, 1.5), 4),
                "r2": round(rng.random(), 4),
            }
            if status == "succeeded"
            else {}
        )
        config = {"epochs": rng.choice([10, 50, 100]), "device": rng.choice(["cpu", "cuda"])}
        config_digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
        run_rows.append((
            rid, counters[exp.pk], status, json.dumps(params), "default", json.dumps(config),
            config_digest, "[]",
            json.dumps({"workflow_source": "bench_noop.py", "workflow_name": "noop", "tasks": TASKS}),
            json.dumps(results), json.dumps({"type": "ValueError"}) if status == "failed" else None, False,
            created, None if status == "queued" else started, finished, finished or started, exp.pk, exp.project_id,
            exp.workspace_id, "{}", user.pk,
            run_fingerprint(snapshot_hash="", workflow_name="noop", config_hash=config_digest, params=params),
            '["keep"]' if rid % 20 == 0 else "[]", "",  # SPEC §14 tags (1 run in 20 kept) and notes
        ))  # fmt: skip
    t0 = time.perf_counter()
    copy_rows(conn, "runs_app_run", [
        "id", "number", "status", "params", "profile", "config", "config_hash", "overrides", "workflow_snapshot",
        "results", "error", "cancel_requested", "created_at", "started_at", "finished_at", "updated_at",
        "experiment_id", "project_id", "workspace_id", "input_pins", "launched_by_id", "fingerprint", "tags", "notes",
    ], run_rows)  # fmt: skip
    print(f"runs: {n_runs} in {time.perf_counter() - t0:.1f} s", flush=True)

    # --- executions, task executions, events, metrics ---
    ex_rows, te_rows, ev_rows, m_rows = [], [], [], []
    ex_id = te_id = ev_id = m_id = 0
    exec_of_run: list[int] = []
    for row in run_rows:
        rid, status, created, started, finished = row[0], row[2], row[12], row[13], row[14]
        started = started or created  # earlier attempts of a queued run still started
        attempts = 1 if rng.random() > 0.05 else rng.randint(2, 5)
        ev_id += 1
        ev_rows.append((ev_id, "run", created, "pending", "queued", "launched by bench", None, rid))
        for a in range(1, attempts + 1):
            ex_id += 1
            last = a == attempts
            ex_status = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled", "lost": "lost",
                         "running": "running", "queued": "queued"}[status] if last else "lost"  # fmt: skip
            ex_rows.append((
                ex_id, str(uuid.UUID(int=rng.getrandbits(128))), a, "launch" if a == 1 else "retry", ex_status,
                "" if ex_status == "queued" else "bench-host", None if ex_status == "queued" else 4242, "",
                created, created, None if ex_status == "queued" else started, finished if last else started,
                None if ex_status == "queued" else (finished or started), json.dumps({"python": "3.11"}),
                None, rid, 0,
            ))  # fmt: skip
            ev_id += 1
            ev_rows.append((ev_id, "execution", created, "", "queued", "launch", ex_id, rid))
            if ex_status != "queued":
                ev_id += 1
                ev_rows.append((ev_id, "execution", started, "queued", "running", "claimed by bench-host", ex_id, rid))
                if ex_status != "running":
                    ev_id += 1
                    ev_rows.append((ev_id, "execution", finished or started, "running", ex_status, "", ex_id, rid))
                for t in TASKS[: rng.randint(2, 4)]:
                    te_id += 1
                    te_rows.append((te_id, t, "succeeded" if ex_status == "succeeded" else "failed" if ex_status == "failed" else "cancelled",
                                    started, finished or started, False, ex_id))  # fmt: skip
        exec_of_run.append(ex_id)
        if status not in ("queued",):
            ev_id += 1
            ev_rows.append((ev_id, "run", started, "queued", "running", "", None, rid))
            if status != "running":
                ev_id += 1
                ev_rows.append((ev_id, "run", finished, "running", status, "", None, rid))
            for k in range(sizes["metric_keys"]):
                key = ("loss", "val_rmse", "lr", "grad_norm")[k % 4]
                for step in range(sizes["metric_steps"]):
                    m_id += 1
                    m_rows.append((m_id, key, step, rng.random(), started, ex_id, rid))
    t0 = time.perf_counter()
    copy_rows(conn, "runs_app_execution", [
        "id", "uuid", "number", "trigger", "status", "worker_hostname", "worker_pid", "celery_task_id", "queued_at",
        "dispatched_at", "started_at", "finished_at", "heartbeat_at", "environment", "error", "run_id", "client_seq"],
        ex_rows)  # fmt: skip
    copy_rows(
        conn,
        "runs_app_taskexecution",
        ["id", "task_name", "status", "started_at", "finished_at", "reused", "execution_id"],
        te_rows,
    )
    copy_rows(
        conn,
        "runs_app_runevent",
        ["id", "subject", "created_at", "from_status", "to_status", "message", "execution_id", "run_id"],
        ev_rows,
    )
    copy_rows(conn, "runs_app_metric", ["id", "key", "step", "value", "created_at", "execution_id", "run_id"], m_rows)
    with conn.cursor() as cur:
        for exp_id, n in counters.items():
            cur.execute("UPDATE runs_app_experiment SET run_counter = %s WHERE id = %s", (n, exp_id))
    conn.commit()
    print(f"executions {len(ex_rows)}, task executions {len(te_rows)}, events {len(ev_rows)}, metrics {len(m_rows)}"
          f" in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    del ev_rows, te_rows, m_rows

    # --- assets ---
    t0 = time.perf_counter()
    vocab = vocabulary(rng)
    words = Words(rng, vocab)
    print(f"vocabulary + Zipf pool in {time.perf_counter() - t0:.1f} s", flush=True)
    n_assets = sizes["assets"]
    failed_runs = [i for i, s in enumerate(run_status) if s == "failed"]
    kinds = [("artifact", 40), ("log", 25), ("data", 15), ("checkpoint", 10), ("error_trace", 10)]
    kind_pop, kind_w = [k for k, _ in kinds], [w for _, w in kinds]
    versions: dict[tuple, int] = {}
    asset_start = start
    columns = [
        "id", "kind", "name", "version", "scope", "scope_key", "file", "size", "sha256", "media_type", "tags",
        "description", "metadata", "search_text", "producer_task", "created_at", "source_path", "import_action",
        "line_count", "data", "exception_type", "exception_message", "traceback", "fingerprint", "created_by_id",
        "experiment_id", "producer_execution_id", "producer_run_id", "project_id", "run_id", "workspace_id", "imported",
    ]  # fmt: skip

    def asset_rows():
        for i in range(n_assets):
            aid = i + 1
            kind = rng.choices(kind_pop, kind_w)[0]
            if kind == "error_trace" and failed_runs:
                ri = rng.choice(failed_runs)
            else:
                ri = min(n_runs - 1, int(i * n_runs / n_assets) + rng.randrange(-3, 4)) if n_runs else 0
                ri = max(0, ri)
            run = run_rows[ri]
            rid, exp_id, proj_id, ws_id = run[0], run[16], run[17], run[18]
            created = asset_start + timedelta(seconds=span * i / n_assets)
            w1, w2 = words.text(1), words.text(1)
            ds, model = rng.choice(DATASETS), rng.choice(MODELS)
            tags = sorted({w1, rng.choice(DATASETS), rng.choice(["train", "test", "valid", "final", "draft"])})
            metadata = {"dataset": ds, "model": model, "rows": rng.randrange(10, 10**6)}
            description = words.text(rng.randint(3, 12))
            extra, exc_type, exc_msg, tb, fp, line_count, data = "", "", "", "", "", 0, None
            task = rng.choice(TASKS)
            scope_run, scope_exp, scope_proj = rid, exp_id, proj_id
            if kind == "data":
                name = f"{ds}_{w1}-{rng.randrange(10000):04d}.{rng.choice(['csv', 'sdf', 'parquet', 'smi'])}"
                scope_run = None
                if rng.random() < 0.5:
                    scope_exp = None
                producer = (None, None, "")
            elif kind == "artifact":
                name = rng.choice([f"model-{model}-epoch{rng.randrange(200)}.pt", f"predictions_{w2}.csv",
                                   "metrics.json", f"{w1}_features.npz", f"report-{w2}.html"])  # fmt: skip
                producer = (exec_of_run[ri], rid, task)
            elif kind == "log":
                name = rng.choice(["train.log", "stdout", "stderr", f"{task}.log", "metrics"])
                extra = words.text(rng.randint(20, 80))  # the log's tail, as log_finalize indexes it
                line_count = rng.randrange(10, 100000)
                producer = (exec_of_run[ri], rid, task)
            elif kind == "checkpoint":
                name = f"{task}-ckpt"
                data = json.dumps({"epoch": rng.randrange(100), "loss": rng.random()})
                producer = (exec_of_run[ri], rid, task)
            else:
                exc_type, template = rng.choice(EXC)
                exc_msg = template.format(w=w1)
                frames = [(f"/srv/workflows/{task}.py", f"{task}_{w2}"), ("/srv/lib/chem.py", rng.choice(vocab[:500]))]
                tb = (
                    "Traceback (most recent call last):\n"
                    + "".join(
                        f'  File "{f}", line {rng.randrange(1, 400)}, in {fn}\n    {words.text(6)}\n'
                        for f, fn in frames
                    )
                    + f"{exc_type}: {exc_msg}\n"
                )
                fp = error_fingerprint(exc_type, frames)
                name = f"error-{task}"
                extra = f"{exc_type} {exc_msg} {tb}"
                producer = (exec_of_run[ri], rid, task)
            scope = "run" if scope_run else "experiment" if scope_exp else "project"
            keys = (ws_id, scope_proj, scope_exp, scope_run)
            scope_key = Asset.make_scope_key(*keys)
            vkey = (scope_key, kind, name)
            version = versions[vkey] = versions.get(vkey, 0) + 1
            sha = hashlib.sha256(f"{aid}".encode()).hexdigest()
            media = {"csv": "text/csv", "log": "text/plain", "json": "application/json"}.get(name.rsplit(".", 1)[-1], "application/octet-stream")  # fmt: skip
            yield (
                aid, kind, name, version, scope, scope_key, f"blobs/{sha[:2]}/{sha}", rng.randrange(100, 10**9), sha,
                media, json.dumps(tags), description, json.dumps(metadata),
                _search_text(name=name, tags=tags, description=description, metadata=metadata, extra=extra),
                producer[2], created, "", "", line_count, data, exc_type, exc_msg, tb, fp, user.pk,
                scope_exp, producer[0], producer[1], scope_proj, scope_run, ws_id, False,
            )  # fmt: skip

    with conn.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'assets_app_asset' AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = 'assets_app_asset'::regclass)"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'DROP INDEX "{name}"')
    conn.commit()
    t0 = time.perf_counter()
    copy_rows(conn, "assets_app_asset", columns, asset_rows())
    conn.commit()
    t_copy = time.perf_counter() - t0
    print(f"assets: {n_assets} COPY in {t_copy:.1f} s (secondary indexes dropped: {len(indexes)})", flush=True)
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cur.execute(definition)
    conn.commit()
    t_idx = time.perf_counter() - t0
    print(f"asset indexes rebuilt in {t_idx:.1f} s", flush=True)
    reset_sequences(conn, ["runs_app_run", "runs_app_execution", "runs_app_taskexecution", "runs_app_runevent",
                           "runs_app_metric", "assets_app_asset"])  # fmt: skip
    conn.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()

    # What the search benchmark asks for (same seed ⇒ same words).
    meta = {
        "rare_word": vocab[RARE_RANK - 1],
        "mid_word": vocab[MID_RANK - 1],
        "common_word": vocab[COMMON_RANK - 1],
        "second_word": vocab[1],
        "third_word": vocab[9],
        "big_experiment": big.pk,
        "project": projects[1].pk,
        "vocab_top": vocab[:20],
        "seconds": round(time.perf_counter() - t_all, 1),
        "asset_copy_seconds": round(t_copy, 1),
        "asset_index_seconds": round(t_idx, 1),
        "scale": common.scale_name(),
    }
    (common.VAR_DIR / "gen_meta.json").write_text(json.dumps(meta, indent=2))
    connection.close()
    print(f"data generated in {meta['seconds']} s; meta in {common.VAR_DIR / 'gen_meta.json'}", flush=True)
    report = common.Report("gen_data")
    report.add("data generation (COPY + indexes + ANALYZE)", p50=meta["seconds"], unit="s", target="minutes")
    report.add("asset COPY", p50=meta["asset_copy_seconds"], unit="s", target="", rows=n_assets)
    report.add("asset index rebuild", p50=meta["asset_index_seconds"], unit="s", target="")
    report.save()


if __name__ == "__main__":
    main()
