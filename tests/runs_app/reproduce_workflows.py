"""Small workflows for the reproduce tests, written into a temporary workflow directory."""

DETERMINISTIC = """
from runs_app.workflow import Workflow

workflow = Workflow("steady")


@workflow.task
def load(ctx, dataset: str = "numbers.txt"):
    return [int(x) for x in ctx.find_asset(dataset).read_text().split()]


@workflow.task(depends_on=["load"])
def compute(ctx, load, scale: float = 1.0):
    values = [v * scale for v in load]
    ctx.artifact.save("values.json", values)
    ctx.artifact.save("total.txt", str(sum(values)))
    for step, v in enumerate(values):
        ctx.log_metric("value", v, step=step)
    ctx.set_result("total", sum(values))
    ctx.set_result("count", len(values))
    return sum(values)
"""

NOISY = """
import random
import time

from runs_app.workflow import Workflow

workflow = Workflow("noisy")


@workflow.task
def sample(ctx):
    ctx.artifact.save("stable.txt", "always the same")
    ctx.artifact.save("stamp.txt", repr(time.time()))
    draw = random.random()
    ctx.artifact.save("draw.json", {"draw": draw})
    ctx.log_metric("draw", draw)
    ctx.set_result("draw", draw)
"""

MOLCFG = """
version: 1
defaults:
  scale: 1.0
profiles:
  default: {}
  double:
    scale: 2.0
"""
