"""FilterSets shared by the HTML list views and the API (NetBox style).

They only validate and apply simple column filters to a queryset that a
selector has already scoped to the user; they never widen it.
"""

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field

from molexp_site.filters import IdFilter

from .choices import AuditAction, RunStatus
from .models import AuditEvent, Experiment, Project, Run
from .run_conditions import conditions_apply, conditions_parse, sort_parse


class ProjectFilterSet(django_filters.FilterSet):
    workspace = IdFilter(field_name="workspace_id")

    class Meta:
        model = Project
        fields = ["workspace"]


class ExperimentFilterSet(django_filters.FilterSet):
    project = IdFilter(field_name="project_id")
    workspace = IdFilter(field_name="workspace_id")

    class Meta:
        model = Experiment
        fields = ["project", "workspace"]


class ConditionsField(forms.Field):
    """Repeated run conditions (SPEC §15), parsed by ``runs_app.run_conditions``.

    ``prefix`` reads the older spellings through the same parser: ``?param=optimizer.lr>=1e-3`` is
    ``params.optimizer.lr>=1e-3``. A malformed condition is a form error (the API's 400; the pages
    show it and no rows).
    """

    widget = forms.MultipleHiddenInput

    def __init__(self, *args, prefix: str = "", **kwargs) -> None:
        self.prefix = prefix
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        try:
            return conditions_parse(value, prefix=self.prefix)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None


@extend_schema_field({"type": "array", "items": {"type": "string", "example": "config.lr>=0.001"}})
class ConditionsFilter(django_filters.Filter):
    """Run conditions, all of which must hold (``filter=``, ``param=``, ``result=``, ``metric=``)."""

    field_class = ConditionsField

    def filter(self, qs, conditions):
        return conditions_apply(qs, conditions or [])


class SortField(forms.CharField):
    def to_python(self, value):
        try:
            return sort_parse(super().to_python(value))
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None


@extend_schema_field({"type": "string", "example": "-config.lr"})
class SortFilter(django_filters.Filter):
    """``sort=[-]<column>``: validated here; the list's pager orders by it (``run_conditions.sort_apply``)."""

    field_class = SortField

    def filter(self, qs, value):
        return qs


class RunFilterSet(django_filters.FilterSet):
    experiment = IdFilter(field_name="experiment_id")
    project = IdFilter(field_name="project_id")
    workspace = IdFilter(field_name="workspace_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    profile = django_filters.CharFilter()
    # A prefix of at least 6 hex digits (the short hashes the pages show) or the whole hash.
    config_hash = django_filters.CharFilter(method="filter_config_hash")
    # SPEC §12: one identity per computation; the whole hash or a prefix of at least 6 hex digits.
    fingerprint = django_filters.CharFilter(method="filter_fingerprint")
    # Across experiments: ?param=optimizer.lr>=1e-3&result=accuracy>0.9&metric=loss<0.2 (all must hold).
    param = ConditionsFilter(prefix="params.")
    result = ConditionsFilter(prefix="results.")
    metric = ConditionsFilter(prefix="metrics.")
    # SPEC §15: ?filter=config.lr>=1e-3&filter=status:failed (repeatable, ANDed) and ?sort=-metrics.loss.
    filter = ConditionsFilter()
    sort = SortFilter()

    class Meta:
        model = Run
        fields = [
            "experiment", "project", "workspace", "status", "profile", "config_hash", "fingerprint",
            "param", "result", "metric", "filter", "sort",
        ]  # fmt: skip

    def filter_config_hash(self, queryset, name, value):
        """The whole hash matches exactly; 6 to 63 hex digits match as a prefix; anything else matches nothing."""
        value = value.strip().lower()
        if 6 <= len(value) < 64 and all(c in "0123456789abcdef" for c in value):
            return queryset.filter(config_hash__startswith=value)
        return queryset.filter(config_hash=value)

    def filter_fingerprint(self, queryset, name, value):
        """As ``config_hash``: the whole fingerprint exactly, 6 to 63 hex digits as a prefix."""
        value = value.strip().lower()
        if value.startswith("fingerprint:"):  # the search box's ``fingerprint:<hex>`` spelling
            value = value[len("fingerprint:") :].strip()
        if 6 <= len(value) < 64 and all(c in "0123456789abcdef" for c in value):
            return queryset.filter(fingerprint__startswith=value)
        return queryset.filter(fingerprint=value)


def run_filter_experiment(params) -> int | None:
    """The ``experiment`` of a ``RunFilterSet`` query as its own field reads it; None if absent or
    invalid (the FilterSet then reports the error). Lets a list hand it to ``selectors.run_list``,
    which scopes the runs of one experiment by one value (``access.scope_runs_of_experiment``)."""
    try:
        return RunFilterSet.base_filters["experiment"].field.clean(params.get("experiment"))
    except forms.ValidationError:
        return None


class AuditEventFilterSet(django_filters.FilterSet):
    """The audit log's filters (page and API): workspace, action, actor (username), object type, time range."""

    workspace = IdFilter(field_name="workspace_id")
    action = django_filters.ChoiceFilter(choices=AuditAction.choices)
    actor = django_filters.CharFilter(field_name="actor_name", max_length=150)
    object_type = django_filters.CharFilter(field_name="object_type", max_length=100)
    after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["workspace", "action", "actor", "object_type", "after", "before"]
