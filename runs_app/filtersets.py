"""FilterSets shared by the HTML list views and the API (NetBox style).

They only validate and apply simple column filters to a queryset that a
selector has already scoped to the user; they never widen it.
"""

import json
import re

import django_filters
from django import forms
from django.db.models import OuterRef, Subquery
from django.db.models.fields.json import KeyTransform
from drf_spectacular.utils import extend_schema_field

from molexp_site.filters import IdFilter

from .choices import AuditAction, RunStatus
from .models import AuditEvent, Experiment, Metric, Project, Run


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


#: ``key<op>value``: a dot path of keys, an operator, a JSON scalar or a bare string.
_CONDITION = re.compile(r"^\s*([^<>=!\s]+)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*$")
_LOOKUPS = {"=": "", "!=": "", "<": "__lt", "<=": "__lte", ">": "__gt", ">=": "__gte"}
MAX_CONDITIONS = 10


class ConditionsField(forms.Field):
    """Repeated ``key<op>value`` conditions (``?param=optimizer.lr>=1e-3&param=model=gcn``).

    ``op`` is one of ``= != < <= > >=``; the value is read as JSON when it parses as
    a number, ``true``/``false``/``null`` or a quoted string, else as a bare string.
    Ordering operators need a number. A malformed condition is a form error (400).
    """

    widget = forms.MultipleHiddenInput

    def __init__(self, *args, numeric: bool = False, **kwargs) -> None:
        self.numeric = numeric
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if not value:
            return []
        values = [value] if isinstance(value, str) else list(value)
        if len(values) > MAX_CONDITIONS:
            raise forms.ValidationError(f"At most {MAX_CONDITIONS} conditions.")
        conditions = []
        for raw in values:
            match = _CONDITION.match(raw)
            if not match or not match[3]:
                raise forms.ValidationError(
                    f"{raw!r} is not a condition: use key<op>value with op one of = != < <= > >= "
                    "(e.g. optimizer.lr>=0.001)."
                )
            path, op, text = match[1], match[2], match[3]
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            if isinstance(parsed, dict | list):
                parsed = text
            if (self.numeric or op in ("<", "<=", ">", ">=")) and (
                isinstance(parsed, bool) or not isinstance(parsed, int | float)
            ):
                raise forms.ValidationError(f"{raw!r}: {op} compares numbers; {text!r} is not a number.")
            if isinstance(parsed, float) and parsed != parsed:  # NaN never compares
                raise forms.ValidationError(f"{raw!r}: NaN is not a comparable value.")
            if any(not part for part in path.split(".")) or len(path) > 200:
                raise forms.ValidationError(f"{raw!r}: {path!r} is not a key (a dot path of names).")
            conditions.append((path.split("."), op, parsed))
        return conditions


def _condition(qs, alias: str, expression, op: str, value):
    """``qs`` where ``expression`` (named ``alias``) stands in relation ``op`` to ``value``."""
    qs = qs.alias(**{alias: expression})
    lookup = alias + _LOOKUPS[op]
    return qs.exclude(**{lookup: value}) if op == "!=" else qs.filter(**{lookup: value})


@extend_schema_field({"type": "array", "items": {"type": "string", "example": "optimizer.lr>=0.001"}})
class JsonConditionsFilter(django_filters.Filter):
    """Conditions on a JSON column of the run (``params`` or ``results``), all of which must hold."""

    field_class = ConditionsField

    def filter(self, qs, conditions):
        for index, (path, op, value) in enumerate(conditions or ()):
            # Key transforms built explicitly: a key named like a lookup ("lt", "isnull") stays a key.
            expression = self.field_name
            for key in path:
                expression = KeyTransform(key, expression)
            qs = _condition(qs, f"_{self.field_name}_{index}", expression, op, value)
        return qs


@extend_schema_field({"type": "array", "items": {"type": "string", "example": "loss<0.2"}})
class MetricConditionsFilter(django_filters.Filter):
    """Conditions on the last value a run logged for a metric (highest step, then latest point)."""

    field_class = ConditionsField

    def filter(self, qs, conditions):
        for index, (path, op, value) in enumerate(conditions or ()):
            last = (
                Metric.objects.filter(run=OuterRef("pk"), key=".".join(path))
                .order_by("-step", "-id")
                .values("value")[:1]
            )
            qs = _condition(qs, f"_metric_last_{index}", Subquery(last), op, value)
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
    param = JsonConditionsFilter(field_name="params")
    result = JsonConditionsFilter(field_name="results")
    metric = MetricConditionsFilter(numeric=True)

    class Meta:
        model = Run
        fields = [
            "experiment", "project", "workspace", "status", "profile", "config_hash", "fingerprint",
            "param", "result", "metric",
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
