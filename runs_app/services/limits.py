"""Bounds on what one launch may make the server store and compute (issue 12 finding 3, docs/security.md).

Invariants:
- Every launch path (page, API, ``manage.py launch``, clone, reproduce, rerun and
  resume) goes through ``launch.launch_plan``/``launch.runs_create``/``control._restart``,
  which call the checks here; nothing is written when a check fails.
- Sizes are bytes of compact UTF-8 JSON, the form in which the values are stored,
  so the same request costs the same whichever client sent it.
- ``launch_request_check`` runs before anything is expanded or read: the number of
  sweep cells is the product of the axis lengths, and the bytes the request
  would copy into its runs are computed per axis value (each value of an axis
  lands in ``runs / len(axis)`` runs), never by building the cells.
- Request data copied into runs is bounded by ``MOLEXP_LAUNCH_AMPLIFICATION`` × the
  request's own size plus ``MOLEXP_LAUNCH_RUN_ALLOWANCE_BYTES`` per run; what the
  launch writes in all (config and snapshot, which come from the trusted workflow
  folder, included) by ``MOLEXP_LAUNCH_MAX_TOTAL_BYTES``.
- This module reads no rows (it imports no models): the queue counts come from
  ``selectors.run_queued_counts``. The queue bound counts runs waiting in
  ``queued``; it is checked before the insert and is not serialized against
  concurrent launches, so simultaneous launches may each pass it once (the
  overshoot is bounded by one launch each).
- Bad requests raise ``ValidationError`` (400 / a form error); a full queue raises
  ``TooManyRequests`` (429 / a form error).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError

from molexp_site.errors import TooManyRequests
from molexp_site.units import size_display


class LaunchPlan(Protocol):
    """What the checks read of ``launch.LaunchPlan`` (a protocol, so this module does not import ``launch``)."""

    experiment: Any
    config: dict
    overrides: list[str]
    cells: list[dict]

    @property
    def snapshot(self) -> dict: ...


#: Sizes in messages people read: the one formatter (binary units), under its older name here.
human_bytes = size_display


def json_size(value: Any, *, field: str) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON; a value that is not JSON (or nests too deep) is a 400."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except RecursionError:
        raise ValidationError({field: f"{field} nests too deeply to be stored."}) from None
    except (TypeError, ValueError):
        raise ValidationError(
            {field: f"{field} must be JSON-serializable (finite numbers, strings, lists, objects)."}
        ) from None
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class LaunchSize:
    """What a launch request weighs: its own bytes, the runs it makes and the bytes it copies into them."""

    request_bytes: int
    runs: int
    copied_bytes: int


def _check_value(size: int, *, field: str, what: str) -> None:
    limit = settings.MOLEXP_LAUNCH_MAX_VALUE_BYTES
    if size > limit:
        raise ValidationError(
            {field: f"{what} is {human_bytes(size)}; at most {human_bytes(limit)} per value "
             "(MOLEXP_LAUNCH_MAX_VALUE_BYTES). Keep large inputs in a data asset and pass its name."}
        )  # fmt: skip


def launch_request_check(
    *, profile: str = "", overrides: list | None = None, params: Any = None, sweep: Any = None
) -> LaunchSize:
    """Refuse a launch request whose size, run count or copied bytes exceed the configured bounds.

    Called first thing by ``launch_plan`` (launch and preview alike), before the
    sweep is expanded or the workflow is read. Types are checked only as far as
    sizing needs; ``launch_plan`` reports the other shape errors. Raises
    ``ValidationError`` naming the field, the size and the setting.
    """
    request_bytes = json_size(profile or "", field="profile")
    overrides_bytes = 0
    for item in overrides or []:
        size = json_size(item, field="overrides")
        _check_value(size, field="overrides", what=f"The override {str(item)[:40]!r}…")
        overrides_bytes += size
    request_bytes += overrides_bytes
    runs, params_copied = 1, 0
    if isinstance(params, dict):
        for name, value in params.items():
            _check_value(json_size(value, field="params"), field="params", what=f"params value {str(name)[:40]!r}")
        params_copied = json_size(params, field="params")
        request_bytes += params_copied
    if isinstance(sweep, dict) and sweep:
        axes = [values for values in sweep.values() if isinstance(values, list) and values]
        if len(axes) == len(sweep):  # a malformed axis is launch_plan's message, not ours
            runs = math.prod(len(values) for values in axes)
            limit = settings.MOLEXP_LAUNCH_MAX_RUNS
            if runs > limit:
                raise ValidationError(
                    {"sweep": f"The sweep makes {runs} runs; at most {limit} per launch (MOLEXP_LAUNCH_MAX_RUNS)."}
                )
            params_copied = 0
            for axis, values in sweep.items():
                key_bytes = json_size(str(axis), field="sweep") + 2  # "axis": and a separator, in every run
                value_total = 0
                for value in values:
                    size = json_size(value, field="sweep")
                    _check_value(size, field="sweep", what=f"A value of sweep axis {str(axis)[:40]!r}")
                    value_total += size
                request_bytes += key_bytes + value_total + len(values)
                # Each value of this axis lands in runs / len(values) runs.
                params_copied += runs // len(values) * value_total + runs * key_bytes
            params_copied += 2 * runs  # the braces of each run's params
    limit = settings.MOLEXP_LAUNCH_MAX_REQUEST_BYTES
    if request_bytes > limit:
        raise ValidationError(
            {"__all__": f"The launch request is {human_bytes(request_bytes)}; at most {human_bytes(limit)} "
             "(MOLEXP_LAUNCH_MAX_REQUEST_BYTES)."}
        )  # fmt: skip
    # Overrides are stored twice in every run: as given (``overrides``) and merged into ``config``.
    copied = params_copied + 2 * overrides_bytes * runs
    allowed = settings.MOLEXP_LAUNCH_AMPLIFICATION * request_bytes + settings.MOLEXP_LAUNCH_RUN_ALLOWANCE_BYTES * runs
    if copied > allowed:
        raise ValidationError(
            {"__all__": f"This launch would copy {human_bytes(copied)} of request data into its {runs} runs; "
             f"at most {human_bytes(allowed)} ({settings.MOLEXP_LAUNCH_AMPLIFICATION}× the request plus "
             f"{human_bytes(settings.MOLEXP_LAUNCH_RUN_ALLOWANCE_BYTES)} per run). Large values repeated in "
             "every run belong in a molcfg.yaml profile or a data asset; or launch fewer runs."}
        )  # fmt: skip
    return LaunchSize(request_bytes=request_bytes, runs=runs, copied_bytes=copied)


def launch_plan_check(*, plan: LaunchPlan) -> int:
    """Refuse a plan whose runs would be too big, one by one or together; returns the bytes it writes.

    One run's ``params`` + ``config`` + ``overrides`` is at most
    ``MOLEXP_LAUNCH_MAX_RUN_BYTES``; all runs with their snapshot copies at most
    ``MOLEXP_LAUNCH_MAX_TOTAL_BYTES``. Called by ``launch_plan`` (so the preview
    says what the launch would refuse) and, for clones and reproductions, by
    ``launch.runs_create``. Raises ``ValidationError``.
    """
    shared = json_size(plan.config, field="config") + json_size(plan.overrides, field="overrides")
    snapshot = json_size(plan.snapshot, field="workflow_snapshot")
    run_limit = settings.MOLEXP_LAUNCH_MAX_RUN_BYTES
    total = 0
    for cell in plan.cells:
        size = shared + json_size(cell, field="params")
        if size > run_limit:
            raise ValidationError(
                {"__all__": f"One run's params, config and overrides come to {human_bytes(size)}; at most "
                 f"{human_bytes(run_limit)} (MOLEXP_LAUNCH_MAX_RUN_BYTES)."}
            )  # fmt: skip
        total += size + snapshot
    limit = settings.MOLEXP_LAUNCH_MAX_TOTAL_BYTES
    if total > limit:
        raise ValidationError(
            {"__all__": f"The {len(plan.cells)} runs of this launch would store {human_bytes(total)} "
             f"(config {human_bytes(shared)} and snapshot {human_bytes(snapshot)} in each); at most "
             f"{human_bytes(limit)} per launch (MOLEXP_LAUNCH_MAX_TOTAL_BYTES). Launch fewer runs."}
        )  # fmt: skip
    return total


def queued_runs_check(*, queued: dict[str, int], adding: int) -> None:
    """Refuse to queue ``adding`` more runs past the per-user or per-workspace bound.

    ``queued`` is ``selectors.run_queued_counts``: ``{"user": n or None, "workspace": n}``
    (``None`` for a launch without a signed-in user, counted against its workspace only).
    Raises ``TooManyRequests`` saying how many runs wait and the bound.
    """
    user_limit = settings.MOLEXP_MAX_QUEUED_RUNS_PER_USER
    waiting = queued.get("user")
    if waiting is not None and waiting + adding > user_limit:
        raise TooManyRequests(
            f"You have {waiting} runs waiting in the queue; {adding} more would pass the bound of "
            f"{user_limit} queued runs per user (MOLEXP_MAX_QUEUED_RUNS_PER_USER). "
            "Wait for some to start, or cancel some."
        )
    ws_limit = settings.MOLEXP_MAX_QUEUED_RUNS_PER_WORKSPACE
    waiting = queued["workspace"]
    if waiting + adding > ws_limit:
        raise TooManyRequests(
            f"This workspace has {waiting} runs waiting in the queue; {adding} more would pass the bound of "
            f"{ws_limit} queued runs per workspace (MOLEXP_MAX_QUEUED_RUNS_PER_WORKSPACE). "
            "Wait for some to start, or cancel some."
        )


def launch_admit(*, plan: LaunchPlan, queued: dict[str, int]) -> None:
    """The last checks before a plan's runs are written: their size and the queue bounds.

    Called by ``launch.runs_create`` for every launch, clone and reproduction with
    ``selectors.run_queued_counts``. Raises ``ValidationError`` or ``TooManyRequests``.
    """
    launch_plan_check(plan=plan)
    queued_runs_check(queued=queued, adding=len(plan.cells))
