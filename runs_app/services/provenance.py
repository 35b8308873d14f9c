"""Only server workflow code runs (SPEC §12): the guard every path that would execute a run's code passes.

A run's code is trusted when it was read from the server's workflow
directories: a launch reads the file there, and clone, reproduce, rerun and
resume re-use the snapshot of a run that was itself trusted. A run imported
from an RO-Crate is a read-only *record*: its snapshot came from the crate,
so it, and every run that would re-use its snapshot, is refused here. An
external run (SPEC §13, ``workflow_snapshot["external"]``) ran code the
molexp client recorded on another machine: its bundle is a record too, refused
here the same way.

Invariants:
- The guard is in the service layer (``run_clone``, ``run_reproduce``,
  ``run_rerun``, ``run_resume``, ``_plan_from_run``) *and* in the worker
  (``execution_run`` calls :func:`run_code_refusal` before it loads any code),
  so every caller is covered: pages, API, management commands, a row written
  by hand or by an older release.
- The check reads rows only (``imported`` along ``cloned_from`` and
  ``reproduction_of``); it never opens, imports or inspects the snapshot.
- It queries through the run's own model class rather than importing
  ``runs_app.models``: the module stays out of the models ↔ services import
  cycle that ``../shared/tools/import-cycles`` reports.
"""

from __future__ import annotations

from django.db.models import Model

from molexp_site.errors import Conflict

#: The prefix of every refusal; the API answers 409 with the whole message.
READ_ONLY = "imported runs are read-only"
#: Ancestors followed at most (a clone of a clone of …); past that the run is refused as unknown.
MAX_LINEAGE = 1000


def imported_refusal_message(*, number: int) -> str:
    """The 409 message for an action on an imported run (or on a run that re-uses an imported snapshot)."""
    return (
        f"{READ_ONLY}: run #{number} is a record imported from an RO-Crate, and code from a crate never runs "
        "on this server (clone, reproduce, rerun and resume are refused). To run this workflow here, launch "
        "an experiment whose workflow file is in the server's workflow directories."
    )


def external_refusal_message(*, number: int) -> str:
    """The 409 message for clone/reproduce/rerun/resume of an external run (SPEC §13)."""
    return (
        f"run #{number} is an external run recorded by the molexp client: the server does not have its code "
        "as a server workflow, so clone, reproduce, rerun and resume are refused."
    )


def run_code_refusal(*, run: Model) -> str | None:
    """Why ``run``'s snapshot must not run, or ``None`` when it was read from the server's workflow folders.

    Refused: an imported run, an external run, a run whose ``cloned_from``/``reproduction_of``
    chain reaches an imported run (possible only for rows written before this
    guard existed, or by hand), and a chain longer than ``MAX_LINEAGE``.
    One query per ancestor; never reads the snapshot itself.
    """
    if run.imported:
        return imported_refusal_message(number=run.number)
    if (run.workflow_snapshot or {}).get("external"):
        return external_refusal_message(number=run.number)
    seen: set[int] = {run.pk}
    parents = [p for p in (run.cloned_from_id, run.reproduction_of_id) if p]
    while parents:
        if len(seen) > MAX_LINEAGE:
            return f"run #{run.number} descends from more than {MAX_LINEAGE} runs; its code's origin is not checked"
        rows = (
            type(run)
            ._default_manager.filter(pk__in=[p for p in parents if p not in seen])
            .values_list("pk", "number", "imported", "cloned_from_id", "reproduction_of_id")
        )
        parents = []
        for pk, number, imported, cloned_from_id, reproduction_of_id in rows:
            seen.add(pk)
            if imported:
                return (
                    f"{READ_ONLY}: run #{run.number} re-uses the snapshot of run #{number}, a record imported "
                    "from an RO-Crate; code from a crate never runs on this server."
                )
            parents.extend(p for p in (cloned_from_id, reproduction_of_id) if p and p not in seen)
    return None


def run_require_server_code(*, run: Model) -> None:
    """Raise ``Conflict`` (HTTP 409) unless ``run``'s snapshot may run again (see :func:`run_code_refusal`)."""
    refusal = run_code_refusal(run=run)
    if refusal:
        raise Conflict(refusal)
