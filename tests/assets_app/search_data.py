"""Shared catalog data for the search tests, created through the services so ``search_text``,
fingerprints and versions are what production writes."""

from __future__ import annotations

import datetime as dt

from assets_app import services
from assets_app.choices import AssetKind
from assets_app.models import Asset
from runs_app.choices import RunStatus
from tests import factories as f

CUDA_TB = (
    "Traceback (most recent call last):\n"
    '  File "/w/train.py", line 40, in step\n'
    "    out = model(overflowing_batch)\n"
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
)


def _trace(run, task, exc_type, message, tb, frames):
    execution = f.ExecutionFactory(run=run, number=run.executions.count() + 1)
    return services.error_trace_create(
        run=run, execution=execution, task=task, exception_type=exc_type, message=message,
        traceback_text=tb, frames=frames,
    )  # fmt: skip


def build(ws, project, experiment, other_ws):
    md = f.ProjectFactory(workspace=ws, name="MD", slug="md")
    relax = f.ExperimentFactory(project=md, name="Relax", slug="relax")
    tuning = f.ExperimentFactory(project=project, name="Tuning", slug="tuning")
    r_failed = f.RunFactory(experiment=experiment, number=1, status=RunStatus.FAILED)
    r_ok = f.RunFactory(experiment=experiment, number=2, status=RunStatus.SUCCEEDED, config_hash="c0ffee" + "0" * 58)
    r_md = f.RunFactory(experiment=relax, number=1, status=RunStatus.FAILED)
    r_tuning = f.RunFactory(experiment=tuning, number=1, status=RunStatus.FAILED)
    cuda_frames = [("/w/train.py", "step")]
    a = {}
    a["t_base"] = _trace(r_failed, "train", "torch.cuda.OutOfMemoryError", "CUDA out of memory.", CUDA_TB, cuda_frames)
    a["t_md"] = _trace(r_md, "train", "torch.cuda.OutOfMemoryError", "CUDA out of memory.", CUDA_TB, cuda_frames)
    a["t_tuning"] = _trace(
        r_tuning,
        "featurize",
        "ValueError",
        "bad smiles string",
        "ValueError: bad smiles string",
        [("/w/f.py", "parse")],
    )
    ex_ok = f.ExecutionFactory(run=r_ok, number=1)
    ex_failed = f.ExecutionFactory(run=r_failed, number=9)
    a["c_best_ok"] = services.asset_create(
        kind=AssetKind.CHECKPOINT, name="ckpt-epoch10", run=r_ok, producer_execution=ex_ok, tags=["best"]
    )
    a["c_best_failed"] = services.asset_create(
        kind=AssetKind.CHECKPOINT, name="ckpt-epoch3", run=r_failed, producer_execution=ex_failed, tags=["best"]
    )
    a["c_plain"] = services.asset_create(
        kind=AssetKind.CHECKPOINT, name="ckpt-epoch1", run=r_ok, producer_execution=ex_ok
    )
    log = services.log_open(run=r_ok, execution=ex_ok, name="stdout", task="train")
    services.log_append_lines(asset=log, lines=["epoch 3 loss=0.25", "gradient exploded at step 7"])
    services.log_finalize(asset=log)
    a["log"] = log
    a["lig1"] = services.asset_create(
        kind=AssetKind.DATA, name="ligands.csv", workspace=ws, blob=services.blob_store_bytes(b"smiles\nCCO\n"),
        metadata={"source": "zinc15"}, description="Ligand library",
    )  # fmt: skip
    a["lig2"] = services.asset_create(
        kind=AssetKind.DATA, name="ligands.csv", workspace=ws, blob=services.blob_store_bytes(b"smiles\nCCO\nCCN\n")
    )
    a["old"] = services.asset_create(kind=AssetKind.DATA, name="old notes.txt", project=project, tags=["archive"])
    Asset.objects.filter(pk=a["old"].pk).update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    # another workspace: must never show up or be counted for lab's members
    r_other = f.RunFactory(
        experiment=f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws, name="QM9", slug="qm9"),
                                       name="Baseline", slug="baseline"),
        number=1, status=RunStatus.FAILED,
    )  # fmt: skip
    a["t_other"] = _trace(r_other, "train", "torch.cuda.OutOfMemoryError", "CUDA out of memory.", CUDA_TB, cuda_frames)
    a["other_ckpt"] = services.asset_create(kind=AssetKind.CHECKPOINT, name="ckpt-epoch10", run=r_other, tags=["best"])
    runs = {"failed": r_failed, "ok": r_ok, "md": r_md, "tuning": r_tuning, "other": r_other}
    return a, runs
