"""RO-Crate section "provenance": executions as actions, tasks as nested actions, the run's history.

Entities and files written (Process Run Crate / Workflow Run Crate)::

    #execution-N                 a CreateAction per execution (instrument: the workflow; agent: the worker)
    #execution-N-task-<name>     a CreateAction per task execution, ``instrument`` its HowToStep
    environment/execution-N.json python, platform, packages of each execution
    events.json  metrics.json    the run's status history and metric points

Invariants:
- An action's ``object`` and ``result`` name only entities the assets section
  put in the graph (``input_ids``/``output_ids``); a task's are the subset it used
  or produced.
- Contextual entities (workers, steps) appear once, however many actions name them.
- Action statuses map MolExp statuses onto schema.org (``ACTION_STATUS``);
  errors are JSON, cut at 2000 characters.
- Metric points stream from the database in chunks (``iterator``).
"""

from __future__ import annotations

import json

from runs_app.models import Execution, Run

from .base import CrateBuild, iso, json_bytes, safe_part

ACTION_STATUS = {
    "succeeded": "http://schema.org/CompletedActionStatus",
    "failed": "http://schema.org/FailedActionStatus",
    "cancelled": "http://schema.org/FailedActionStatus",
    "lost": "http://schema.org/FailedActionStatus",
    "queued": "http://schema.org/PotentialActionStatus",
    "running": "http://schema.org/ActiveActionStatus",
    "cancelling": "http://schema.org/ActiveActionStatus",
}
POTENTIAL = "http://schema.org/PotentialActionStatus"


def _task_actions(build: CrateBuild, *, ex: Execution, uses: list, outputs: list, input_ids: dict,
                  output_ids: dict) -> list[dict]:  # fmt: skip
    """One CreateAction per task execution of ``ex``; returns their references."""
    task_actions = []
    for t in ex.task_executions.all():
        task_id = f"#execution-{ex.number}-task-{safe_part(t.task_name)}"
        step_id = f"#step-{safe_part(t.task_name)}"
        build.add_once({"@id": step_id, "@type": "HowToStep", "name": t.task_name})
        task_action = {
            "@id": task_id,
            "@type": "CreateAction",
            "name": f"Task {t.task_name} (execution {ex.number})",
            "instrument": {"@id": step_id},
            "actionStatus": ACTION_STATUS.get(t.status, POTENTIAL),
            "result": [
                {"@id": output_ids[a.pk]}
                for a in outputs
                if a.producer_execution_id == ex.pk and a.producer_task == t.task_name and a.pk in output_ids
            ],  # fmt: skip
            "object": [
                {"@id": input_ids[u.asset_id]}
                for u in uses
                if u.execution_id == ex.pk and u.task_name == t.task_name and u.asset_id in input_ids
            ],  # fmt: skip
        }
        if t.started_at:
            task_action["startTime"] = iso(t.started_at)
        if t.finished_at:
            task_action["endTime"] = iso(t.finished_at)
        if t.reused:
            task_action["description"] = "Output reused from a previous execution (resume)."
        if t.error:
            task_action["error"] = json.dumps(t.error, default=str)[:2000]
        build.graph.append(task_action)
        task_actions.append({"@id": task_id})
    return task_actions


def actions_add(
    build: CrateBuild,
    *,
    run: Run,
    executions: list[Execution],
    uses: list,
    outputs: list,
    input_ids: dict[int, str],
    output_ids: dict[int, str],
    workflow_id: str | None,
    params_ids: list[dict],
) -> list[dict]:
    """Executions as CreateActions with their environment files; returns the actions' references."""
    actions: list[dict] = []
    for ex in executions:
        env_path = f"environment/execution-{ex.number}.json"
        entry = build.writer.write_bytes(env_path, json_bytes(ex.environment or {}))
        build.add_file(env_path, entry, name=f"Environment of execution {ex.number}",
                       encodingFormat="application/json", about={"@id": f"#execution-{ex.number}"})  # fmt: skip
        agent_id = f"#worker-{safe_part(ex.worker_hostname or 'unknown')}-{ex.worker_pid or 0}"
        build.add_once({"@id": agent_id, "@type": "SoftwareApplication",
                        "name": f"MolExp worker {ex.worker_hostname or '?'} (pid {ex.worker_pid or '?'})"})  # fmt: skip
        exec_inputs = [{"@id": input_ids[u.asset_id]} for u in uses if u.execution_id in (ex.pk, None)
                       and u.asset_id in input_ids]  # fmt: skip
        exec_outputs = [{"@id": output_ids[a.pk]} for a in outputs
                        if a.producer_execution_id == ex.pk and a.pk in output_ids]  # fmt: skip
        task_actions = _task_actions(build, ex=ex, uses=uses, outputs=outputs, input_ids=input_ids,
                                     output_ids=output_ids)  # fmt: skip
        action = {
            "@id": f"#execution-{ex.number}",
            "@type": "CreateAction",
            "name": f"Execution {ex.number} of run {run.number} ({ex.trigger})",
            "instrument": {"@id": workflow_id} if workflow_id else None,
            "agent": {"@id": agent_id},
            "actionStatus": ACTION_STATUS.get(ex.status, POTENTIAL),
            "object": [*exec_inputs, *params_ids],
            "result": exec_outputs,
            "hasPart": task_actions,
        }
        if ex.started_at or ex.queued_at:
            action["startTime"] = iso(ex.started_at or ex.queued_at)
        if ex.finished_at:
            action["endTime"] = iso(ex.finished_at)
        if ex.error:
            action["error"] = json.dumps(ex.error, default=str)[:2000]
        build.graph.append({k: v for k, v in action.items() if v is not None})
        actions.append({"@id": action["@id"]})
    return actions


def history_add(build: CrateBuild, *, run: Run, exec_numbers: dict[int, int]) -> None:
    """Write ``events.json`` (status history) and ``metrics.json`` (metric points)."""
    events = [
        {"execution": exec_numbers.get(e.execution_id), "subject": e.subject, "created_at": iso(e.created_at),
         "from_status": e.from_status, "to_status": e.to_status, "message": e.message}
        for e in run.events.order_by("id")
    ]  # fmt: skip
    entry = build.writer.write_bytes("events.json", json_bytes(events))
    build.add_file("events.json", entry, name="Run events (status history)", encodingFormat="application/json")
    metrics = [
        {"execution": exec_numbers.get(m.execution_id), "key": m.key, "step": m.step, "value": m.value,
         "created_at": iso(m.created_at)}
        for m in run.metrics.order_by("key", "step", "id").iterator(chunk_size=2000)
    ]  # fmt: skip
    entry = build.writer.write_bytes("metrics.json", json_bytes(metrics))
    build.add_file("metrics.json", entry, name="Metric points", encodingFormat="application/json")
