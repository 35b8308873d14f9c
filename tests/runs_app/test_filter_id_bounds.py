"""Id filters accept whole numbers in the 64-bit range only, in the HTML lists and in the API alike.

A decimal id is not rounded to another row, and a huge one is not a 500: the
API answers 400, the pages keep the value out of the query and show a form error.
"""

from __future__ import annotations

import pytest

from assets_app.filtersets import AssetFilterSet
from assets_app.models import Asset
from runs_app.filtersets import ExperimentFilterSet, ProjectFilterSet, RunFilterSet
from runs_app.models import Experiment, Project, Run

pytestmark = pytest.mark.django_db

BAD = ["1.5", "1e3", "NaN", "Infinity", "abc", "9223372036854775808", "-9223372036854775809", "99999999999999999999999"]
GOOD = ["1", "1.0", "-5", "9223372036854775807", "-9223372036854775808"]
FILTERSETS = [
    (RunFilterSet, Run, ["experiment", "project", "workspace"]),
    (ExperimentFilterSet, Experiment, ["project", "workspace"]),
    (ProjectFilterSet, Project, ["workspace"]),
    (AssetFilterSet, Asset, ["workspace", "project", "experiment", "run", "producer_run"]),
]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(("filterset_class", "model", "names"), FILTERSETS, ids=lambda v: getattr(v, "__name__", ""))
def test_bad_ids_are_form_errors(filterset_class, model, names, value):
    for name in names:
        filterset = filterset_class({name: value}, queryset=model.objects.all())
        assert not filterset.is_valid()
        assert name in filterset.errors
        list(filterset.qs)  # the invalid value is left out of the query, never a 500


@pytest.mark.parametrize("value", GOOD)
@pytest.mark.parametrize(("filterset_class", "model", "names"), FILTERSETS, ids=lambda v: getattr(v, "__name__", ""))
def test_whole_numbers_in_range_are_accepted(filterset_class, model, names, value):
    for name in names:
        filterset = filterset_class({name: value}, queryset=model.objects.all())
        assert filterset.is_valid(), filterset.errors
        assert list(filterset.qs) == []


def test_decimal_id_no_longer_matches_the_truncated_row(run):
    filterset = RunFilterSet({"experiment": f"{run.experiment_id}.5"}, queryset=Run.objects.all())
    assert not filterset.is_valid()
    exact = RunFilterSet({"experiment": str(run.experiment_id)}, queryset=Run.objects.all())
    assert list(exact.qs) == [run]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(
    "url", ["/api/runs/?experiment={v}", "/api/projects/?workspace={v}", "/api/assets/?producer_run={v}"]
)
def test_api_answers_400(api_client_for, run, url, value):
    response = api_client_for("owner").get(url.format(v=value))
    assert response.status_code == 400
    assert response.json()["detail"]


@pytest.mark.parametrize("url", ["/catalog/?run=1.5", "/catalog/?workspace=99999999999999999999999"])
def test_catalog_page_does_not_fail(web_client_for, run, url):
    response = web_client_for("viewer").get(url)
    assert response.status_code == 200
