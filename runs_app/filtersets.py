"""FilterSets shared by the HTML list views and the API (NetBox style).

They only validate and apply simple column filters to a queryset that a
selector has already scoped to the user; they never widen it.
"""

import django_filters

from .choices import RunStatus
from .models import Experiment, Project, Run


class ProjectFilterSet(django_filters.FilterSet):
    workspace = django_filters.NumberFilter(field_name="workspace_id")

    class Meta:
        model = Project
        fields = ["workspace"]


class ExperimentFilterSet(django_filters.FilterSet):
    project = django_filters.NumberFilter(field_name="project_id")
    workspace = django_filters.NumberFilter(field_name="workspace_id")

    class Meta:
        model = Experiment
        fields = ["project", "workspace"]


class RunFilterSet(django_filters.FilterSet):
    experiment = django_filters.NumberFilter(field_name="experiment_id")
    project = django_filters.NumberFilter(field_name="project_id")
    workspace = django_filters.NumberFilter(field_name="workspace_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    profile = django_filters.CharFilter()
    config_hash = django_filters.CharFilter()

    class Meta:
        model = Run
        fields = ["experiment", "project", "workspace", "status", "profile", "config_hash"]
