"""Which actions a run allows, in which state, for which role: the one place that decides (SPEC §5, §12).

The run page, the reproduce panel, the API and the services all ask here:
:func:`run_actions` says which buttons a page shows, :func:`run_action_require` and
:func:`run_snapshot_require` are the guards the services raise from (HTTP 409).

Rules:
- ``cancel`` from ``CANCELLABLE`` (queued: at once; running: cooperatively). A run
  already ``cancelling`` is not offered the action; the service treats a second request
  as a no-op.
- ``rerun`` and ``resume`` from ``RESTARTABLE``; ``reproduce`` from ``REPRODUCIBLE``;
  ``clone`` from any state. Clone and reproduce need the run's stored snapshot.
- Every action needs the editor role; viewers see none.
- A run imported from an RO-Crate is a read-only record: every action is refused, and
  so is every run re-using its snapshot (the provenance guard: code from a crate never
  runs on this server, SPEC §12).
- An external run (the molexp client, SPEC §13) ran code the server does not have as a
  server workflow: rerun, resume, clone and reproduce are refused (cancel is not).

Invariants:
- :func:`run_actions` and :func:`run_action_refusal` read the run's own row only (no
  query: pages call them per render); :func:`run_code_refusal` follows the run's
  ``cloned_from``/``reproduction_of`` lineage with one query per ancestor and never opens
  the snapshot.
- The services call the guards under the run's row lock, where its state cannot change.
- This module is at the bottom of the import graph: it imports no models or services
  (the lineage query goes through the run's own model class).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Model

from molexp_site.errors import Conflict

from .access import role_at_least
from .choices import Role, RunStatus

#: Statuses a run can be cancelled from.
CANCELLABLE = (RunStatus.QUEUED, RunStatus.RUNNING)
#: Statuses a run can be restarted (rerun or resume) from.
RESTARTABLE = (RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.LOST)
#: Statuses a run can be reproduced from.
REPRODUCIBLE = (RunStatus.SUCCEEDED, RunStatus.FAILED)

#: The prefix of every refusal of an imported run; the API answers 409 with the whole message.
READ_ONLY = "imported runs are read-only"
#: Ancestors followed at most (a clone of a clone of …); past that the run is refused as unknown.
MAX_LINEAGE = 1000


class RunAction(StrEnum):
    """What a user can do to a run (the values are the words of the refusal messages)."""

    CANCEL = "cancel"
    RERUN = "rerun"
    RESUME = "resume"
    CLONE = "clone"
    REPRODUCE = "reproduce"


@dataclass(frozen=True)
class RunActions:
    """The actions a user may take on a run now (what its page offers)."""

    can_edit: bool
    can_cancel: bool
    can_rerun: bool
    can_resume: bool
    can_clone: bool
    can_reproduce: bool

    @property
    def can_restart(self) -> bool:
        """Rerun or resume (the page shows them together)."""
        return self.can_rerun or self.can_resume


def role_can_edit(role: str | None) -> bool:
    """True for the editor and owner roles (``None``: not a member)."""
    return role_at_least(role, Role.EDITOR)


def run_label(*, number: int, experiment: str = "") -> str:
    """How people name a run (SPEC §15): "<experiment> #<number>" ("run #<number>" without the name)."""
    return f"{experiment or 'run'} #{number}"


def imported_refusal_message(*, number: int, experiment: str = "") -> str:
    """The 409 message for an action on an imported run (or on a run that re-uses an imported snapshot)."""
    return (
        f"{READ_ONLY}: {run_label(number=number, experiment=experiment)} is a record imported from an RO-Crate, and code from a crate never runs "
        "on this server (clone, reproduce, rerun and resume are refused). To run this workflow here, launch "
        "an experiment whose workflow file is in the server's workflow directories."
    )


def _external(run: Model) -> bool:
    """A run recorded by the molexp client outside the workers (SPEC §13; ``workflow_snapshot["external"]``)."""
    return bool((run.workflow_snapshot or {}).get("external"))


def external_refusal_message(*, number: int, action: str = "", experiment: str = "") -> str:
    """The 409 message for rerun, resume, clone or reproduce of an external run."""
    what = action or "clone, reproduce, rerun and resume"
    return (
        f"{run_label(number=number, experiment=experiment)} is an external run recorded by the molexp client: the server does not have its code "
        f"as a server workflow, so {what} is refused."
    )


def run_action_refusal(*, run: Model, action: RunAction) -> str | None:
    """Why ``run``'s own row forbids ``action`` now (imported, state, no snapshot), or ``None``.

    The role is not checked here (see :func:`run_actions`); nor is the lineage (see
    :func:`run_code_refusal`). Reads no other row.
    """
    if run.imported:
        return imported_refusal_message(number=run.number, experiment=run.experiment.name)
    if action != RunAction.CANCEL and _external(run):
        return external_refusal_message(number=run.number, action=action, experiment=run.experiment.name)
    if action == RunAction.CANCEL and run.status not in CANCELLABLE:
        return f"Run #{run.number} is {run.status}; only queued or running runs can be cancelled."
    if action in (RunAction.RERUN, RunAction.RESUME) and run.status not in RESTARTABLE:
        return f"Run #{run.number} is {run.status}; {action} needs failed, cancelled or lost."
    if action == RunAction.REPRODUCE and run.status not in REPRODUCIBLE:
        return f"Run #{run.number} is {run.status}; only a succeeded or failed run can be reproduced."
    if action in (RunAction.CLONE, RunAction.REPRODUCE) and not run.source_blob_id:
        return f"Run #{run.number} has no stored workflow snapshot."
    return None


def run_action_require(*, run: Model, action: RunAction) -> None:
    """Raise ``Conflict`` (HTTP 409) with :func:`run_action_refusal`'s message unless ``action`` is allowed."""
    refusal = run_action_refusal(run=run, action=action)
    if refusal:
        raise Conflict(refusal)


def run_actions(*, run: Model, role: str | None) -> RunActions:
    """The actions ``role`` (the user's role in the run's workspace; ``None``: none) may take on ``run`` now."""
    can_edit = role_can_edit(role)

    def allowed(action: RunAction) -> bool:
        return can_edit and run_action_refusal(run=run, action=action) is None

    return RunActions(
        can_edit=can_edit,
        can_cancel=allowed(RunAction.CANCEL),
        can_rerun=allowed(RunAction.RERUN),
        can_resume=allowed(RunAction.RESUME),
        can_clone=allowed(RunAction.CLONE),
        can_reproduce=allowed(RunAction.REPRODUCE),
    )


# --- provenance: only server workflow code runs (SPEC §12) -----------------------------------


def run_code_refusal(*, run: Model) -> str | None:
    """Why ``run``'s snapshot must not run, or ``None`` when it was read from the server's workflow folders.

    Refused: an imported run, an external run, a run whose ``cloned_from``/``reproduction_of``
    chain reaches an imported run (possible only for rows written before this
    guard existed, or by hand), and a chain longer than ``MAX_LINEAGE``.
    One query per ancestor; never reads the snapshot itself. The worker calls it
    before it loads any code, so a row written by hand is covered too.
    """
    if run.imported:
        return imported_refusal_message(number=run.number, experiment=run.experiment.name)
    if _external(run):
        return external_refusal_message(number=run.number, experiment=run.experiment.name)
    seen: set[int] = {run.pk}
    parents = [p for p in (run.cloned_from_id, run.reproduction_of_id) if p]
    while parents:
        if len(seen) > MAX_LINEAGE:
            return f"{run.experiment.name} #{run.number} descends from more than {MAX_LINEAGE} runs; its code's origin is not checked"
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
                    f"{READ_ONLY}: {run.experiment.name} #{run.number} re-uses the snapshot of #{number}, a record imported "
                    "from an RO-Crate; code from a crate never runs on this server."
                )
            parents.extend(p for p in (cloned_from_id, reproduction_of_id) if p and p not in seen)
    return None


def run_require_server_code(*, run: Model) -> None:
    """Raise ``Conflict`` (HTTP 409) unless ``run``'s snapshot may run again (see :func:`run_code_refusal`)."""
    refusal = run_code_refusal(run=run)
    if refusal:
        raise Conflict(refusal)


def run_snapshot_require(*, run: Model) -> None:
    """The guard of every path that re-runs a recorded snapshot (clone, reproduce): ``Conflict`` for an
    imported run or a descendant of one (:func:`run_require_server_code`), then for a run without one."""
    run_require_server_code(run=run)
    if run.source_blob_id is None:
        raise Conflict(f"Run #{run.number} has no stored workflow snapshot.")
