"""FilterSets shared by the HTML list views and the API (NetBox style).

They only validate and apply simple column filters to a queryset that a
selector has already scoped to the user; they never widen it.
"""

import django_filters
from django import forms

from .choices import RunStatus
from .models import Experiment, Project, Run

#: Range of a signed 64-bit key: larger values overflow SQLite's INTEGER (and PostgreSQL's bigint).
ID_MIN, ID_MAX = -(2**63), 2**63 - 1


class IdFilter(django_filters.Filter):
    """An integer key filter: a decimal (``1.5``), an exponent (``1e3``), ``NaN`` or a value outside
    the 64-bit range is a form error (a 400 in the API), never a silently rounded id or a 500.

    (``NumberFilter`` parses a ``Decimal``, so ``experiment=1.5`` would have matched id 1.)
    """

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


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


class RunFilterSet(django_filters.FilterSet):
    experiment = IdFilter(field_name="experiment_id")
    project = IdFilter(field_name="project_id")
    workspace = IdFilter(field_name="workspace_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    profile = django_filters.CharFilter()
    # A prefix of at least 6 hex digits (the short hashes the pages show) or the whole hash.
    config_hash = django_filters.CharFilter(method="filter_config_hash")

    class Meta:
        model = Run
        fields = ["experiment", "project", "workspace", "status", "profile", "config_hash"]

    def filter_config_hash(self, queryset, name, value):
        """The whole hash matches exactly; 6 to 63 hex digits match as a prefix; anything else matches nothing."""
        value = value.strip().lower()
        if 6 <= len(value) < 64 and all(c in "0123456789abcdef" for c in value):
            return queryset.filter(config_hash__startswith=value)
        return queryset.filter(config_hash=value)
