"""SPEC §15: launch warns about override keys that no profile nor the defaults define ("did you
mean …?"), and launches anyway; page (preview and after launch), API (launch and preview) alike."""

from __future__ import annotations

import pytest

from runs_app.models import Run
from runs_app.profiles import override_warnings, parse_molcfg

from .workflow_fixtures import MOLCFG

pytestmark = pytest.mark.django_db

LAUNCH = "/w/lab/p/qm9/e/chem/launch/"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["optimizer.lr=5e-4", "scale=3", "fail_in=x", "optimizer={}"], []),  # defined by defaults or a profile
        (["optimizer.lrr=5e-4"], ["'optimizer.lrr'", "Did you mean 'optimizer.lr'?"]),
        (["scael=2"], ["'scael'", "Did you mean 'scale'?"]),
        (["zzz.qqq=1"], ["'zzz.qqq'"]),
    ],
)
def test_unknown_keys_warn_with_the_closest_known_key(overrides, expected):
    warnings = override_warnings(parse_molcfg(MOLCFG), overrides)
    assert len(warnings) == (1 if expected else 0)
    for text in expected:
        assert text in warnings[0]
    if overrides == ["zzz.qqq=1"]:
        assert "Did you mean" not in warnings[0]


def test_extends_is_not_a_config_key_and_an_empty_file_warns_about_nothing():
    assert override_warnings(parse_molcfg(MOLCFG), ["extends=x"])
    assert override_warnings(parse_molcfg(""), ["anything.at.all=1"]) == []


def test_api_launch_returns_the_warning_and_launches(
    api_client_for, chem_experiment, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client_for("editor").post(
            f"/api/experiments/{chem_experiment.pk}/launch/", {"overrides": ["optimizer.lrr=5e-4"]}, format="json"
        )
    assert response.status_code == 201, response.content
    [warning] = response.json()["warnings"]
    assert "'optimizer.lrr'" in warning and "Did you mean 'optimizer.lr'?" in warning
    assert Run.objects.get().config["optimizer"] == {"lr": 0.001, "lrr": 5e-4}


def test_api_launch_without_unknown_keys_has_no_warnings(
    api_client_for, chem_experiment, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client_for("editor").post(
            f"/api/experiments/{chem_experiment.pk}/launch/", {"overrides": ["optimizer.lr=5e-4"]}, format="json"
        )
    assert response.status_code == 201 and response.json()["warnings"] == []


def test_api_preview_returns_the_warning(api_client_for, chem_experiment):
    response = api_client_for("viewer").post(
        f"/api/experiments/{chem_experiment.pk}/launch-preview/", {"overrides": ["scael=2"]}, format="json"
    )
    assert response.status_code == 200 and "Did you mean 'scale'?" in response.json()["warnings"][0]
    assert Run.objects.count() == 0


def test_page_preview_and_launch_show_the_warning(web_client_for, chem_experiment, django_capture_on_commit_callbacks):
    client = web_client_for("editor")
    body = client.post(LAUNCH + "preview/", {"overrides": "optimizer.lrr=5e-4"}, HTTP_HX_REQUEST="true")
    html = body.content.decode()
    assert 'id="preview-warnings"' in html and "Did you mean &#x27;optimizer.lr&#x27;?" in html
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(LAUNCH, {"overrides": "optimizer.lrr=5e-4"}, follow=True)
    assert response.status_code == 200 and Run.objects.count() == 1
    assert "Did you mean &#x27;optimizer.lr&#x27;?" in response.content.decode()  # the message after the redirect
