"""Workflow files written into a temporary workflow directory for launch and execution tests."""

import os
import shutil
from pathlib import Path

#: The files ``write_fresh_folder`` writes get this modification time (2026-01-01), whatever the test.
FIXTURE_MTIME_NS = 1_767_225_600 * 10**9


def write_fresh_folder(folder: Path, files: dict[str, str]) -> Path:
    """Empty ``folder`` and write ``files`` into it with fixed modification times.

    A fixture calls this for each test at one path per session: the bytes, path and times are
    then those of the previous test, so the workflow topology this process inspected before is
    reused (inspections are keyed by path and content, as on a server whose files do not
    change), instead of a subprocess per test; anything a test adds or edits changes the key.
    """
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
        os.utime(folder / name, ns=(FIXTURE_MTIME_NS, FIXTURE_MTIME_NS))
    return folder


WORKFLOW = """
from pathlib import Path

from runs_app.workflow import Workflow, shell

workflow = Workflow("chem")


@workflow.task
def load(ctx, dataset: str = "ligands.csv"):
    text = ctx.find_asset(dataset).read_text()
    return [line.split(",")[1] for line in text.splitlines()[1:]]


@workflow.task(depends_on=["load"])
def featurize(ctx, load, scale: float = 1.0, fail_in: str = ""):
    if fail_in == "featurize":
        raise RuntimeError("featurize exploded on purpose")
    features = [len(s) * scale for s in load]
    ctx.artifact.save("features.json", features, tags=["features"])
    ctx.log("featurize").append(f"{len(features)} molecules")
    for step, value in enumerate(features):
        ctx.log_metric("length", value, step=step)
    ctx.checkpoint("ckpt", data={"n": len(features)})
    ctx.set_result("n_molecules", len(features))
    return features


@workflow.task(depends_on=["featurize"])
def summarize(ctx, featurize, fail_in: str = "", sleep: float = 0.0):
    import time

    deadline = time.time() + sleep
    while time.time() < deadline:
        ctx.log("wait").append("waiting")
        time.sleep(0.05)
    if fail_in == "summarize":
        raise ValueError("summary failed")
    Path(ctx.workdir, "out.txt").write_text(str(sum(featurize)))
    result = shell(["cat", "out.txt"])
    ctx.set_result("total", float(result.tail))
    return sum(featurize)
"""

MOLCFG = """
version: 1
defaults:
  scale: 1.0
  optimizer: {lr: 0.001}
profiles:
  default: {}
  quick-test:
    scale: 2.0
  broken:
    extends: quick-test
    fail_in: featurize
"""
