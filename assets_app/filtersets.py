"""FilterSets of the catalog, shared by the HTML catalog page and the API.

Applied on top of ``assets_app.selectors.asset_list``, which scopes to the user.
Free-text search (``q``) arrives with the catalog issue; these are column filters.
"""

import django_filters
from django.db import connection

from molexp_site.filters import IdFilter

from .choices import AssetKind, ScopeKind
from .models import Asset


class AssetFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=AssetKind.choices)
    scope = django_filters.ChoiceFilter(choices=ScopeKind.choices)
    workspace = IdFilter(field_name="workspace_id")
    project = IdFilter(field_name="project_id")
    experiment = IdFilter(field_name="experiment_id")
    run = IdFilter(field_name="run_id")
    producer_run = IdFilter(field_name="producer_run_id")
    name = django_filters.CharFilter()
    sha256 = django_filters.CharFilter()
    tag = django_filters.CharFilter(method="filter_tag")

    class Meta:
        model = Asset
        fields = ["kind", "scope", "workspace", "project", "experiment", "run", "producer_run", "name", "sha256"]

    def filter_tag(self, queryset, name, value):
        if connection.features.supports_json_field_contains:
            return queryset.filter(tags__contains=[value])
        return queryset.filter(tags__icontains=f'"{value}"')
