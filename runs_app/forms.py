"""Input parsing of runs_app: the HTML forms, and the query parsers pages and API share.

Validation of business rules stays in the services.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from assets_app.selectors import asset_kind_choices
from molexp_site.json_input import JSONTooDeep, json_loads_bounded

from .choices import Role, RunStatus
from .profiles import coerce_value
from .selectors.compare import COMPARE_MAX_RUNS


class BootstrapMixin:
    """Give every widget the Bootstrap class its type needs, so templates stay loops."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.HiddenInput):
                continue
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs.setdefault("class", css)


class WorkspaceCreateForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=100, required=False, help_text="Leave empty to derive it from the name.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ProjectCreateForm(WorkspaceCreateForm):
    pass


class ExperimentCreateForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=100, required=False, help_text="Leave empty to derive it from the name.")
    workflow_source = forms.ChoiceField(
        label="Workflow file", help_text="A .py file found in the configured workflow directories."
    )
    workflow_name = forms.CharField(
        max_length=200,
        required=False,
        help_text="Which workflow of the file, when it defines several.",
        widget=forms.TextInput(attrs={"list": "workflow-name-options", "autocomplete": "off"}),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, workflow_files: list[str], offer_url: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workflow_source"].choices = [("", "— choose a workflow file —")] + [
            (name, name) for name in workflow_files
        ]
        if offer_url:  # the file's workflows are offered as soon as it is chosen (htmx)
            self.fields["workflow_source"].widget.attrs.update(
                {"hx-get": offer_url, "hx-trigger": "change", "hx-target": "#workflow-offer", "hx-swap": "outerHTML"}
            )


class MembershipSetForm(BootstrapMixin, forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MembershipRemoveForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.HiddenInput)


class RunLaunchForm(BootstrapMixin, forms.Form):
    """Launch a run (params) or a sweep: parses the text fields; the service validates everything else.

    ``overrides``: one ``KEY=VALUE`` per line. ``params``: a JSON object. ``sweep``: one
    ``AXIS=v1,v2,…`` per line (values coerced like overrides) or a JSON object axis → list.
    """

    profile = forms.CharField(required=False, widget=forms.Select, help_text="A profile of the workflow's molcfg.yaml.")
    overrides = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "optimizer.lr=5e-4", "spellcheck": "false"}),
        help_text="One KEY=VALUE per line; dotted keys reach into nested settings.",
    )
    params = forms.CharField(
        required=False,
        label="Parameters (JSON)",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": '{"seed": 0}', "spellcheck": "false"}),
        help_text="A JSON object for a single run. Leave empty to launch a sweep or a run without parameters.",
    )
    sweep = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "seed=0,1,2\nscale=1.0,2.0", "spellcheck": "false"}),
        help_text="One AXIS=v1,v2,… per line (or a JSON object of axis → list); one run per combination.",
    )

    def __init__(self, *args, profiles: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(name, name) for name in profiles] or [("", "(no profiles: defaults only)")]
        self.fields["profile"].widget.choices = choices
        if profiles and not self.is_bound:
            self.initial.setdefault("profile", "default" if "default" in profiles else profiles[0])

    def clean_overrides(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["overrides"].splitlines() if line.strip()]

    def clean_params(self) -> dict | None:
        text = self.cleaned_data["params"].strip()
        if not text:
            return None
        try:
            value = json_loads_bounded(text)
        except (JSONTooDeep, RecursionError) as exc:
            raise forms.ValidationError(f"Parameters nest too deeply: {exc}") from None
        except ValueError as exc:
            raise forms.ValidationError(f"Parameters are not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError(f"Parameters must be a JSON object (name → value), not {type(value).__name__}.")
        return value

    def clean_sweep(self) -> dict | None:
        text = self.cleaned_data["sweep"].strip()
        if not text:
            return None
        if text.startswith("{"):
            try:
                value = json_loads_bounded(text)
            except (JSONTooDeep, RecursionError) as exc:
                raise forms.ValidationError(f"The sweep nests too deeply: {exc}") from None
            except ValueError as exc:
                raise forms.ValidationError(f"The sweep is not valid JSON: {exc}") from None
            return value  # the service checks that every axis is a list
        sweep: dict[str, list] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if not line:
                continue
            axis, sep, values = line.partition("=")
            if not sep or not axis.strip():
                raise forms.ValidationError(f"Sweep line {number} ({line!r}) is not AXIS=v1,v2,…")
            items = [v for v in values.split(",") if v.strip()]
            if not items:
                raise forms.ValidationError(f"Sweep axis {axis.strip()!r} (line {number}) has no values.")
            sweep[axis.strip()] = [coerce_value(v.strip()) for v in items]
        return sweep


class RunCloneForm(BootstrapMixin, forms.Form):
    """Clone a run, optionally with overrides on top of its config (one KEY=VALUE per line)."""

    overrides = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "optimizer.lr=5e-4", "spellcheck": "false"}),
    )

    def clean_overrides(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["overrides"].splitlines() if line.strip()]


# --- query parsing shared by the pages and the API (plain functions: they return or raise) ---


def activity_filters_clean(data: Any) -> dict[str, Any]:
    """The activity filters from a query dict: ``kind`` (runs | assets), ``project`` (id),
    ``status`` (a run status), ``asset_kind``; empty values are dropped.

    Raises ``ValidationError`` naming each bad value.
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    kind = (data.get("kind") or "").strip()
    if kind:
        if kind in ("runs", "assets"):
            cleaned["kind"] = kind
        else:
            errors["kind"] = "Choose runs or assets."
    project = (data.get("project") or "").strip()
    if project:
        if project.isdigit() and len(project) <= 18:
            cleaned["project"] = int(project)
        else:
            errors["project"] = "Not a project id."
    status = (data.get("status") or "").strip()
    if status:
        if status in RunStatus.values:
            cleaned["status"] = status
        else:
            errors["status"] = f"Unknown run status {status[:40]!r}."
    asset_kind = (data.get("asset_kind") or "").strip()
    if asset_kind:
        if asset_kind in {value for value, _ in asset_kind_choices()}:
            cleaned["asset_kind"] = asset_kind
        else:
            errors["asset_kind"] = f"Unknown asset kind {asset_kind[:40]!r}."
    if errors:
        raise ValidationError(errors)
    return cleaned


#: ``[<workspace>/][<project>/]<experiment>:<number>`` in ``?runs=`` (slugs, a run's number).
RUN_REF_RE = re.compile(r"(?:([a-z0-9_-]{1,100})/)?(?:([a-z0-9_-]{1,100})/)?([a-z0-9_-]{1,100}):(\d{1,9})", re.I)


RunRef = int | tuple[tuple[str, ...], int]


def run_refs_parse(values: list[str]) -> list[RunRef]:
    """The runs named by ``?runs=`` (comma-separated and/or repeated), in order, without repeats.

    People's spelling (SPEC §15, no database ids): ``lab/qm9/baseline:3,4`` — workspace, project
    and experiment slugs (the first two optional) and a run number; a bare number right after such
    a reference is another run of the same experiment (``baseline:3,4,tuning:2``). A bare number
    before any reference is a run id (the API's spelling, kept). A ref is an ``int`` (an id) or
    ``((ws, project, experiment), number)`` with ``""`` for a part not given (lower case).
    Raises ``ValidationError`` for a part that is neither. Used by compare and by charts.
    """
    refs: list[RunRef] = []
    current: tuple[str, ...] | None = None
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if part.isdigit() and len(part) <= 18:
                ref = (current, int(part)) if current is not None else int(part)
            elif match := RUN_REF_RE.fullmatch(part):
                first, second, experiment, number = match.groups()
                ws, project = (first, second) if second else ("", first or "")
                current = (ws.lower(), project.lower(), experiment.lower())
                ref = (current, int(number))
            else:
                raise ValidationError(
                    {"runs": f"{part[:40]!r} is not a run id nor experiment:number (e.g. baseline:3)."}
                )
            if ref not in refs:
                refs.append(ref)
    return refs


def run_compare_parse_refs(values: list[str]) -> list[RunRef]:
    """``run_refs_parse`` for compare; ``run_refs_resolve`` turns the refs into ids.

    Raises ``ValidationError`` unless there are 2 to ``COMPARE_MAX_RUNS``.
    """
    refs = run_refs_parse(values)
    if len(refs) < 2:
        raise ValidationError({"runs": "Pick at least two runs to compare (?runs=baseline:3,4)."})
    if len(refs) > COMPARE_MAX_RUNS:
        raise ValidationError({"runs": f"At most {COMPARE_MAX_RUNS} runs can be compared at once."})
    return refs


#: Query parameters of a run's history page (the run page and ``/api/runs/{id}/history/``).
EVENT_CURSOR_PARAMS = ("events_after", "events_before")


def run_event_cursor_clean(query: Any) -> dict[str, Any]:
    """The ``selectors.run_event_page`` arguments of a request's query: ``events_after=<id>``,
    ``events_before=<id>`` or ``events=latest``.

    Raises ``ValidationError`` for a cursor that is not an id (not a 500, whatever its length).
    """
    cursors: dict[str, int] = {}
    for name in EVENT_CURSOR_PARAMS:
        raw = query.get(name)
        if raw in (None, ""):
            continue
        if not (isinstance(raw, str) and raw.isdigit() and len(raw) <= 18):
            raise ValidationError({name: f"{name} must be an event id (a non-negative integer)."})
        cursors[name] = int(raw)
    if len(cursors) > 1:
        raise ValidationError({"events_after": "Give events_after or events_before, not both."})
    return {
        "after": cursors.get("events_after"),
        "before": cursors.get("events_before"),
        "latest": query.get("events") == "latest",
    }


class ObjectEditForm(BootstrapMixin, forms.Form):
    """Rename and describe a workspace, project or experiment (SPEC §14); the service checks the rest."""

    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=100,
        required=False,
        help_text="Leave as it is to derive it from a new name. Old URLs redirect to the new one.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ExperimentEditForm(ObjectEditForm):
    """``ObjectEditForm`` plus the workflow, offered from the workflows the experiment's file defines."""

    workflow_name = forms.ChoiceField(label="Workflow", required=False)

    def __init__(self, *args, workflow_names: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [(name, name) for name in workflow_names]
        current = self.initial.get("workflow_name") or ""
        if current and current not in workflow_names:
            choices.append((current, f"{current} (not in the file any more)"))
        self.fields["workflow_name"].choices = [("", "— the file's only workflow —"), *choices]


class RunNotesForm(BootstrapMixin, forms.Form):
    """A run's tags (comma-separated) and notes (Markdown), SPEC §14; ``services.run_annotate`` checks them."""

    tags = forms.CharField(required=False, max_length=3000, help_text="Comma-separated, e.g. keep, best, paper.")
    notes = forms.CharField(
        required=False, strip=False, max_length=100_000, widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Markdown.",
    )  # fmt: skip
