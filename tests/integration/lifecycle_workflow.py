"""The workflow the lifecycle integration tests launch (written into a temporary workflow directory)."""

WORKFLOW = """
import time
from pathlib import Path

from runs_app.workflow import Workflow, shell

workflow = Workflow("lifecycle")


@workflow.task
def prepare(ctx, n: int = 5):
    data = ctx.find_asset("numbers.txt").read_text().split()
    values = [int(x) for x in data][:n]
    ctx.artifact.save("values.json", values, tags=["input"])
    log = ctx.log("prepare")
    for v in values:
        log.append(f"value {v}")
    ctx.checkpoint("prepared", data={"count": len(values)})
    for step, v in enumerate(values):
        ctx.log_metric("value", v, step=step)
    return values


@workflow.task(depends_on=["prepare"])
def slow(ctx, prepare, sleep: float = 0.0, fail: bool = False, marker: str = ""):
    log = ctx.log("slow")
    deadline = time.time() + sleep
    beat = 0
    while time.time() < deadline:
        beat += 1
        log.append(f"working {beat}")
        time.sleep(0.1)
    if fail:
        raise ZeroDivisionError("slow task divided by zero on purpose")
    ctx.set_result("total", sum(prepare))
    return sum(prepare)


@workflow.task(depends_on=["slow"])
def finish(ctx, slow):
    Path(ctx.workdir, "total.txt").write_text(f"{slow}\\n")
    result = shell(["cat", "total.txt"])
    ctx.set_result("echoed", int(result.tail.strip()))
    ctx.artifact.save("final.txt", f"total={slow}")
    return slow
"""

MOLCFG = """
version: 1
defaults:
  n: 5
profiles:
  default: {}
  quick-check:
    n: 3
  broken:
    fail: true
"""
