"""Workflow files written into a temporary workflow directory for launch and execution tests."""

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
