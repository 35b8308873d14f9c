"""Builders for runs that differ in config, code, inputs, environment, results and metrics."""

from __future__ import annotations

import hashlib

from runs_app.models import SourceBlob
from tests import factories as f

SOURCE_A = b"from molexp import task\n\n@task\ndef featurize(ctx):\n    return ctx.config['lr']\n"
SOURCE_B = b"from molexp import task\n\n@task\ndef featurize(ctx):\n    return ctx.config['lr'] * 2\n"

ENV = {
    "python": "3.12.1",
    "python_implementation": "CPython",
    "platform": "Linux-6.1-x86_64",
    "machine": "x86_64",
    "packages": {"numpy": "2.1.0", "rdkit": "2024.9.1", "scipy": "1.14.0"},
}


def blob(content: bytes) -> SourceBlob:
    sha = hashlib.sha256(content).hexdigest()
    obj, _ = SourceBlob.objects.get_or_create(sha256=sha, defaults={"content": content, "size": len(content)})
    return obj


def make_run(
    experiment,
    *,
    config=None,
    source=SOURCE_A,
    env=None,
    inputs=(),
    results=None,
    metrics=(),
    git_commit="abc123",
    params=None,
    profile="default",
):
    """A run with a snapshot of ``source``, one execution with ``env``, the ``inputs`` (assets) it used,
    ``results`` and ``metrics`` (``(key, step, value)`` triples)."""
    b = blob(source)
    run = f.RunFactory(
        experiment=experiment,
        config=config if config is not None else {"optimizer": {"lr": 0.1, "name": "adam"}, "epochs": 10},
        params=params or {},
        profile=profile,
        results=results if results is not None else {"rmse": 0.5},
        source_blob=b,
        workflow_snapshot={
            "source_sha256": b.sha256,
            "workflow_source": "featurize.py",
            "topology_hash": "t" * 64,
            "git_commit": git_commit,
            "git_branch": "main",
            "git_dirty": False,
            "git_diff": "",
        },
    )
    f.ExecutionFactory(run=run, number=1, environment=env if env is not None else ENV)
    for asset in inputs:
        f.AssetUseFactory(asset=asset, run=run)
    for key, step, value in metrics:
        f.MetricFactory(run=run, key=key, step=step, value=value)
    return run
