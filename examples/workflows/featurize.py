"""Featurize a ligand library: SMILES string descriptors without RDKit.

Tasks: ``load`` (read the ``ligands.csv`` data asset) → ``featurize`` (per
molecule descriptors from the SMILES text, with metrics, checkpoints and a log)
→ ``summarize`` (library statistics as run results), plus ``count_smiles``, a
command task that runs ``wc`` over the exported SMILES file.

Configuration comes from ``molcfg.yaml`` beside this file; its keys bind to the
tasks' parameters by name (SPEC §4). The ``broken`` profile sets ``fail_after``
so that ``featurize`` raises, to show a failed run with its error trace.

This file is read by the workflow engine in a worker (from the run's
snapshot); the web process never imports it.
"""

from __future__ import annotations

import csv
import io
import re
import statistics

from runs_app.workflow import Workflow, csv_text, shell

workflow = Workflow("featurize")

# Atoms of a SMILES string: bracket atoms ([C@@H], [N+], [O-]) or the organic subset.
# Two-letter halogens come first so "Cl" is not read as C + l.
ATOM = re.compile(r"\[[^\]]+\]|Br|Cl|B|C|N|O|P|S|F|I|b|c|n|o|p|s")
# Ring-closure labels outside brackets: a digit or %nn.
RING_LABEL = re.compile(r"%\d{2}|\d")
BRACKET = re.compile(r"\[[^\]]+\]")
HETERO = {"N", "O", "S", "P", "F", "Cl", "Br", "I", "B", "n", "o", "s", "p", "b"}
HALOGEN = {"F", "Cl", "Br", "I"}

#: Descriptor sets selectable with the ``descriptors`` config key.
BASIC = ("length", "heavy_atoms", "rings")
EXTENDED = BASIC + ("heteroatoms", "halogens", "charged_atoms", "double_bonds", "triple_bonds", "stereocentres")


def _element(atom: str) -> str:
    """The element symbol of a SMILES atom token ("[C@@H]" → "C", "[N+]" → "N", "Cl" → "Cl")."""
    if atom.startswith("["):
        match = re.match(r"\[\d*([A-Z][a-z]?|[a-z])", atom)
        return match.group(1) if match else "?"
    return atom


def smiles_features(smiles: str) -> dict[str, int]:
    """String-level descriptors of one SMILES (no chemistry toolkit needed)."""
    atoms = [_element(a) for a in ATOM.findall(smiles)]
    heavy = [a for a in atoms if a != "H"]
    outside_brackets = BRACKET.sub("", smiles)
    ring_labels = RING_LABEL.findall(outside_brackets)
    brackets = BRACKET.findall(smiles)
    return {
        "length": len(smiles),
        "heavy_atoms": len(heavy),
        # Each ring closure is opened and closed by the same label.
        "rings": len(ring_labels) // 2,
        "heteroatoms": sum(1 for a in heavy if a in HETERO),
        "halogens": sum(1 for a in heavy if a in HALOGEN),
        "charged_atoms": sum(1 for b in brackets if "+" in b or "-" in b),
        "double_bonds": outside_brackets.count("="),
        "triple_bonds": outside_brackets.count("#"),
        "stereocentres": sum(1 for b in brackets if "@" in b),
    }


@workflow.task
def load(ctx, dataset: str = "ligands.csv", limit: int = 0) -> list[dict[str, str]]:
    """Read ``name,smiles`` rows from the data asset ``dataset`` (first ``limit`` rows if > 0)."""
    asset = ctx.find_asset(dataset, kind="data")
    rows = [row for row in csv.DictReader(io.StringIO(asset.read_text())) if row.get("smiles")]
    if limit > 0:
        rows = rows[:limit]
    if not rows:
        raise ValueError(f"{dataset} has no rows with a smiles column")
    ctx.log("load").append(f"read {len(rows)} molecules from {dataset} v{asset.version}")
    return rows


@workflow.task(depends_on=["load"])
def featurize(
    ctx,
    load: list[dict[str, str]],
    descriptors: str = "basic",
    scale: float = 1.0,
    checkpoint_every: int = 10,
    fail_after: int = -1,
) -> list[dict]:
    """Compute descriptors per molecule; checkpoint progress every ``checkpoint_every`` molecules.

    ``fail_after`` ≥ 0 raises after that many molecules (the ``broken`` profile).
    """
    names = EXTENDED if descriptors == "extended" else BASIC
    log = ctx.log("featurize")
    log.append(f"descriptor set {descriptors!r}: {', '.join(names)}")
    rows = []
    for step, molecule in enumerate(load):
        if 0 <= fail_after <= step:
            raise RuntimeError(
                f"simulated featurizer crash after {step} molecules (fail_after={fail_after}); "
                f"next molecule was {molecule['name']!r}"
            )
        all_features = smiles_features(molecule["smiles"])
        features = {key: all_features[key] * scale for key in names}
        rows.append({"name": molecule["name"], "smiles": molecule["smiles"], **features})
        log.append(f"{molecule['name']}: " + " ".join(f"{k}={v:g}" for k, v in features.items()))
        ctx.log_metric("heavy_atoms", features["heavy_atoms"], step=step)
        ctx.log_metric("rings", features["rings"], step=step)
        if checkpoint_every > 0 and (step + 1) % checkpoint_every == 0:
            ctx.checkpoint("featurize-progress", data={"done": step + 1, "last": molecule["name"]})
    ctx.artifact.save("features.json", rows, tags=("features",), metadata={"descriptors": list(names)})
    header = ["name", *names]
    # csv_text quotes separators and defuses spreadsheet formulas in names (=, +, -, @ …).
    ctx.artifact.save("features.csv", csv_text(rows, header), tags=("features",))
    ctx.set_result("n_molecules", len(rows))
    return rows


@workflow.task(depends_on=["featurize"])
def summarize(ctx, featurize: list[dict], top_n: int = 5) -> dict:
    """Library statistics as run results, and the largest molecules by heavy-atom count."""
    heavy = [row["heavy_atoms"] for row in featurize]
    summary = {
        "n_molecules": len(featurize),
        "mean_heavy_atoms": statistics.fmean(heavy),
        "median_heavy_atoms": statistics.median(heavy),
        "max_rings": max(row["rings"] for row in featurize),
        "largest": [row["name"] for row in sorted(featurize, key=lambda r: -r["heavy_atoms"])[:top_n]],
    }
    for key in ("mean_heavy_atoms", "median_heavy_atoms", "max_rings", "largest"):
        ctx.set_result(key, summary[key])
    ctx.log_metric("mean_heavy_atoms", summary["mean_heavy_atoms"])
    ctx.artifact.save("summary.json", summary, tags=("summary",))
    ctx.log("summarize").append(
        f"{summary['n_molecules']} molecules, mean {summary['mean_heavy_atoms']:.1f} heavy atoms"
    )
    return summary


@workflow.task(depends_on=["load"])
def count_smiles(ctx, load: list[dict[str, str]]):
    """A command task: write the SMILES to ``ligands.smi`` in the work directory and run ``wc`` on it.

    ``shell`` runs the argv in this task's work directory, streams its output
    into a log asset and fails the task with the exit code and the output's tail.
    """
    (ctx.workdir / "ligands.smi").write_text("".join(f"{m['smiles']} {m['name']}\n" for m in load))
    result = shell(ctx, ["wc", "-l", "-c", "ligands.smi"])
    lines, size = (int(field) for field in result.tail.split()[:2])
    ctx.set_result("smi_bytes", size)
    return {"lines": lines, "bytes": size}
