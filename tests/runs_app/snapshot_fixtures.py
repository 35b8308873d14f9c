"""A workflow that imports helper modules from its own folder (a module beside it and a package)."""

from __future__ import annotations

from pathlib import Path

WORKFLOW = """
import os

import helper
from runs_app.workflow import Workflow

workflow = Workflow("helped")


@workflow.task
def compute(ctx, x: int = 1):
    from pkg.deep import FACTOR  # imported while the task runs: also from the bundle

    ctx.set_result("helper", helper.VALUE)
    ctx.set_result("factor", FACTOR)
    ctx.set_result("pid", os.getpid())
    ctx.set_result("helper_file", helper.__file__)
    return helper.VALUE * x
"""

MOLCFG = """
version: 1
defaults:
  x: 1
profiles:
  default: {}
"""


def write_helper(folder: Path, value: str) -> None:
    (folder / "helper.py").write_text(f"VALUE = {value!r}\n")


def write_tree(folder: Path, *, helper: str = "old", factor: int = 2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "helped.py").write_text(WORKFLOW)
    (folder / "molcfg.yaml").write_text(MOLCFG)
    write_helper(folder, helper)
    (folder / "pkg").mkdir(exist_ok=True)
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "deep.py").write_text(f"FACTOR = {factor}\n")
