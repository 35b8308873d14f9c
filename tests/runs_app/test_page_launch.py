"""The launch form: roles, live preview (config, hash, run count, runs with that config), errors, redirects."""

from __future__ import annotations

import json

import pytest

from runs_app.models import Run
from runs_app.profiles import config_hash
from runs_app.services import run_launch

pytestmark = pytest.mark.django_db

LAUNCH = "/w/lab/p/qm9/e/chem/launch/"
PREVIEW = LAUNCH + "preview/"


@pytest.fixture
def users_ready(users, chem_experiment):
    return users


@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 200), ("editor", 200), ("viewer", 403), ("outsider", 404), ("anonymous", 302)]
)
def test_launch_form_get_by_role(web_client_for, users_ready, role, expected):
    response = web_client_for(role).get(LAUNCH)
    assert response.status_code == expected
    if expected == 200:
        body = response.content.decode()
        assert 'name="profile"' in body and "quick_test" in body and "broken" in body
        assert 'hx-trigger="input changed delay:400ms, change"' in body
        assert f'hx-post="{PREVIEW}"' in body
        # The page opens with the preview of the default profile.
        assert config_hash({"scale": 1.0, "optimizer": {"lr": 0.001}}) in body
    if role == "anonymous":
        assert "/accounts/login/" in response["Location"] or "login" in response["Location"]


@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404), ("anonymous", 302)]
)
def test_launch_post_by_role(web_client_for, users_ready, role, expected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = web_client_for(role).post(LAUNCH, {"profile": "quick_test", "params": '{"seed": 1}'})
    assert response.status_code == expected
    created = Run.objects.count()
    if role in ("owner", "editor"):
        run = Run.objects.get()
        assert response["Location"] == run.get_absolute_url()
        assert run.profile == "quick_test" and run.params == {"seed": 1}
        assert run.launched_by.username == role
    else:
        assert created == 0


def test_launch_with_overrides_and_one_run_redirects_to_the_run(
    web_client_for, chem_experiment, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = web_client_for("editor").post(
            LAUNCH, {"profile": "quick-test", "overrides": "optimizer.lr=5e-4\n\nextra.flag=true\n"}
        )
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.config == {"scale": 2.0, "optimizer": {"lr": 5e-4}, "extra": {"flag": True}}
    assert len(callbacks) == 1  # dispatched after commit, not before


def test_sweep_launch_redirects_to_the_experiment(web_client_for, chem_experiment, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = web_client_for("editor").post(LAUNCH, {"profile": "default", "sweep": "scale=1,2.5\nseed=0,1,2"})
    assert response.status_code == 302 and response["Location"] == chem_experiment.get_absolute_url()
    cells = sorted((r.params["scale"], r.params["seed"]) for r in Run.objects.all())
    assert cells == sorted((s, n) for s in (1, 2.5) for n in (0, 1, 2))  # values coerced to numbers


def test_htmx_launch_uses_a_client_redirect(web_client_for, chem_experiment, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = web_client_for("editor").post(LAUNCH, {"profile": "default"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == Run.objects.get().get_absolute_url()


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"profile": "nope"}, "profile", "Unknown profile"),
        ({"profile": "default", "overrides": "novalue"}, "overrides", "Malformed override"),
        ({"profile": "default", "sweep": '{"lr": 0.1}'}, "sweep", "must be a list"),
        ({"profile": "default", "sweep": "lr"}, "sweep", "AXIS=v1,v2"),
        ({"profile": "default", "params": "[1, 2]"}, "params", "JSON object"),
        ({"profile": "default", "params": "{nope"}, "params", "not valid JSON"),
        ({"profile": "default", "params": '{"a": 1}', "sweep": "b=1,2"}, "sweep", "either params or a sweep"),
    ],
)
def test_bad_launch_shows_a_form_error_and_creates_nothing(
    web_client_for, chem_experiment, data, field, text, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = web_client_for("editor").post(LAUNCH, data)
    assert response.status_code == 400
    form = response.context["form"]
    assert any(text in e for e in form.errors.get(field, [])), form.errors
    assert text in response.content.decode().replace("&#x27;", "'")
    assert Run.objects.count() == 0 and callbacks == []


def test_preview_shows_config_hash_run_count(web_client_for, chem_experiment):
    response = web_client_for("editor").post(
        PREVIEW,
        {"profile": "quick-test", "overrides": "optimizer.lr=5e-4", "sweep": "seed=1,2,3"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" not in body and 'id="launch-preview"' in body
    config = {"scale": 2.0, "optimizer": {"lr": 5e-4}}
    assert config_hash(config) in body
    assert json.dumps(config, indent=2, sort_keys=True).replace('"', "&quot;") in body
    assert '<strong id="preview-count">3</strong>' in body
    assert "no run in this workspace has this configuration yet" in body
    assert Run.objects.count() == 0  # a preview writes nothing


def test_preview_lists_runs_that_already_have_that_config(
    web_client_for, chem_experiment, editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        [earlier] = run_launch(user=editor, experiment=chem_experiment, profile="quick-test")
        run_launch(user=editor, experiment=chem_experiment, profile="default")
    body = web_client_for("editor").post(PREVIEW, {"profile": "quick_test"}, HTTP_HX_REQUEST="true").content.decode()
    assert "this configuration already ran" in body
    assert f'href="{earlier.get_absolute_url()}"' in body
    assert chem_experiment.get_absolute_url() + "runs/2/" not in body  # the other config is not listed


def test_preview_reports_service_errors(web_client_for, chem_experiment):
    body = web_client_for("editor").post(PREVIEW, {"profile": "nope"}, HTTP_HX_REQUEST="true").content.decode()
    assert "This launch would be refused" in body and "Unknown profile" in body.replace("&#x27;", "'")


def test_preview_without_javascript_renders_the_whole_page(web_client_for, chem_experiment):
    response = web_client_for("editor").post(PREVIEW, {"profile": "quick_test", "preview": "1"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" in body and 'id="launch-form"' in body
    assert config_hash({"scale": 2.0, "optimizer": {"lr": 0.001}}) in body


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("outsider", 404), ("anonymous", 302)])
def test_preview_needs_the_editor_role(web_client_for, users_ready, role, expected):
    assert web_client_for(role).post(PREVIEW, {"profile": "default"}).status_code == expected


def test_preview_refuses_get(web_client_for, chem_experiment):
    assert web_client_for("editor").get(PREVIEW).status_code == 405


def test_experiment_page_links_to_the_launch_form_for_editors_only(web_client_for, chem_experiment):
    assert f'href="{LAUNCH}"' in web_client_for("editor").get(chem_experiment.get_absolute_url()).content.decode()
    assert f'href="{LAUNCH}"' not in web_client_for("viewer").get(chem_experiment.get_absolute_url()).content.decode()
