"""Launch bounds (issue 12 finding 3): a launch's bytes, its runs, the preview's cost and the queue.

The reproduction of the issue, "one editor request of 2 MB (a sweep of 100 cells and
one 2 MB value) wrote ~390 MB", is refused with a 400 naming the bound, and
nothing is written; so is its smaller cousin that stays under the per-value
bound but is copied into every run. Each refusal is checked through the API,
the page and the service; the queue bound answers 429 in the API and a form
error on the page.
"""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from runs_app.choices import RunStatus
from runs_app.models import Execution, Run, RunEvent
from runs_app.services import run_launch, run_rerun
from tests import factories as f

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def _api_launch(client, experiment, body, capture, *, preview=False):
    url = f"/api/experiments/{experiment.pk}/{'launch-preview' if preview else 'launch'}/"
    with capture(execute=False):
        return client.post(url, body, format="json")


def _nothing_written():
    return Run.objects.count() == 0 and Execution.objects.count() == 0 and RunEvent.objects.count() == 0


# --- the reproduction: a 2 MB value in a 100-cell sweep -------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"overrides": ["blob=" + "x" * (2 * MB)], "sweep": {"seed": list(range(100))}},
        {"sweep": {"seed": list(range(100)), "blob": ["x" * (2 * MB)]}},
        {"params": {"blob": "x" * (2 * MB)}},
    ],
    ids=["override", "sweep-value", "params-value"],
)
def test_a_2mb_value_is_refused_before_anything_is_written(
    api_client_for, chem_experiment, django_capture_on_commit_callbacks, body
):
    response = _api_launch(api_client_for("editor"), chem_experiment, body, django_capture_on_commit_callbacks)
    assert response.status_code == 400, response.content
    assert "MOLEXP_LAUNCH_MAX_VALUE_BYTES" in response.json()["detail"]
    assert "2.0 MiB" in response.json()["detail"]
    assert _nothing_written()


def test_a_value_under_the_bound_but_copied_into_every_run_is_refused(
    api_client_for, chem_experiment, django_capture_on_commit_callbacks
):
    # 60 KB is allowed once; copied into 100 runs (twice each: overrides and config) it is 12 MB.
    body = {"overrides": ["blob=" + "x" * 60_000], "sweep": {"seed": list(range(100))}}
    response = _api_launch(api_client_for("editor"), chem_experiment, body, django_capture_on_commit_callbacks)
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    assert "would copy 11.4 MiB of request data into its 100 runs" in detail
    assert "8× the request" in detail
    assert _nothing_written()
    # The same value in a single run is fine: nothing is multiplied.
    single = {"overrides": ["blob=" + "x" * 60_000]}
    response = _api_launch(api_client_for("editor"), chem_experiment, single, django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content


def test_a_sweep_value_repeated_in_every_cell_counts_once_per_run(editor, chem_experiment, settings):
    settings.MOLEXP_LAUNCH_AMPLIFICATION = 2
    settings.MOLEXP_LAUNCH_RUN_ALLOWANCE_BYTES = 100
    with pytest.raises(Exception) as caught:
        run_launch(user=editor, experiment=chem_experiment, sweep={"seed": list(range(50)), "blob": ["y" * 5000]})
    assert "would copy" in str(caught.value) and "into its 50 runs" in str(caught.value)
    assert _nothing_written()


def test_a_typical_sweep_passes(editor, chem_experiment, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        runs = run_launch(
            user=editor,
            experiment=chem_experiment,
            profile="quick-test",
            overrides=["optimizer.lr=5e-4"],
            sweep={"seed": list(range(100)), "scale": [0.5, 1.0, 2.0]},
        )
    assert len(runs) == 300


def test_too_many_runs_are_refused_without_expanding_the_sweep(api_client_for, chem_experiment, settings):
    # 40^4 = 2.56 million cells: the product is refused from the axis lengths, in well under a second.
    body = {"sweep": {axis: list(range(40)) for axis in "abcd"}}
    started = time.process_time()
    response = api_client_for("viewer").post(
        f"/api/experiments/{chem_experiment.pk}/launch-preview/", body, format="json"
    )
    assert time.process_time() - started < 1.0
    assert response.status_code == 400
    assert (
        "The sweep makes 2560000 runs; at most 10000 per launch (MOLEXP_LAUNCH_MAX_RUNS)" in response.json()["detail"]
    )
    settings.MOLEXP_LAUNCH_MAX_RUNS = 20
    response = api_client_for("viewer").post(
        f"/api/experiments/{chem_experiment.pk}/launch-preview/", {"sweep": {"a": [1, 2, 3], "b": list(range(7))}},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400 and "21 runs; at most 20" in response.json()["detail"]


def test_one_run_too_big_and_a_launch_too_big_are_refused(editor, chem_experiment, settings):
    settings.MOLEXP_LAUNCH_MAX_RUN_BYTES = 2000
    with pytest.raises(Exception, match="MOLEXP_LAUNCH_MAX_RUN_BYTES"):
        run_launch(user=editor, experiment=chem_experiment, params={"note": "z" * 3000})
    settings.MOLEXP_LAUNCH_MAX_RUN_BYTES = 256 * 1024
    settings.MOLEXP_LAUNCH_MAX_TOTAL_BYTES = 50_000
    with pytest.raises(Exception, match=r"The 100 runs of this launch would store .*MOLEXP_LAUNCH_MAX_TOTAL_BYTES"):
        run_launch(user=editor, experiment=chem_experiment, sweep={"seed": list(range(100))})
    assert _nothing_written()


def test_the_request_itself_is_bounded(api_client_for, chem_experiment, settings, django_capture_on_commit_callbacks):
    settings.MOLEXP_LAUNCH_MAX_REQUEST_BYTES = 10_000
    body = {"overrides": [f"k{i}=" + "v" * 100 for i in range(200)]}
    response = _api_launch(api_client_for("editor"), chem_experiment, body, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert "MOLEXP_LAUNCH_MAX_REQUEST_BYTES" in response.json()["detail"]


def test_the_page_shows_the_bound_as_a_form_error(web_client_for, chem_experiment):
    url = reverse("runs:run-launch", args=[chem_experiment.workspace.slug, chem_experiment.project.slug,
                                           chem_experiment.slug])  # fmt: skip
    sweep = "seed=" + ",".join(str(i) for i in range(100))
    response = web_client_for("editor").post(url, {"profile": "default", "overrides": "blob=" + "x" * 60_000,
                                                   "sweep": sweep, "params": ""})  # fmt: skip
    assert response.status_code == 400
    assert b"would copy 11.4 MiB of request data into its 100 runs" in response.content
    assert _nothing_written()


def test_the_command_reports_the_bound(chem_experiment, editor):
    ref = f"{chem_experiment.workspace.slug}/{chem_experiment.project.slug}/{chem_experiment.slug}"
    with pytest.raises(CommandError, match="MOLEXP_LAUNCH_MAX_VALUE_BYTES"):
        call_command("launch", ref, "--user", "editor", "--override", "blob=" + "x" * (100 * 1024))
    assert _nothing_written()


# --- the preview's cost ---------------------------------------------------------------------
# The bounds are on this process's CPU time (the in-process test client does all the work), not the
# wall clock, so a loaded machine cannot fail them and a slow code path still does.


def test_a_10000_cell_preview_is_quick(api_client_for, web_client_for, chem_experiment):
    body = {"sweep": {"a": list(range(100)), "b": list(range(100))}}
    started = time.process_time()
    response = api_client_for("viewer").post(
        f"/api/experiments/{chem_experiment.pk}/launch-preview/", body, format="json"
    )
    assert response.status_code == 200 and response.json()["run_count"] == 10_000
    assert [c["params"] for c in response.json()["cells"][:2]] == [{"a": 0, "b": 0}, {"a": 0, "b": 1}]
    assert len(response.json()["cells"]) == 100  # MOLEXP_LAUNCH_PREVIEW_MAX_CELLS
    assert time.process_time() - started < 3.0
    url = reverse("runs:run-launch-preview", args=[chem_experiment.workspace.slug, chem_experiment.project.slug,
                                                   chem_experiment.slug])  # fmt: skip
    sweep = "a=" + ",".join(map(str, range(100))) + "\nb=" + ",".join(map(str, range(100)))
    started = time.process_time()
    page = web_client_for("editor").post(url, {"profile": "default", "overrides": "", "params": "", "sweep": sweep})
    assert time.process_time() - started < 3.0
    assert page.status_code == 200
    assert b"10000</strong> runs" in page.content
    assert page.content.count(b'<pre class="molexp-pre mt-1 mb-1">') == 5  # per-cell work stays bounded
    assert b"Parameters of the first 5 of 10000 runs" in page.content


def test_the_costliest_allowed_10000_cell_preview_is_quick(api_client_for, chem_experiment):
    """10 000 cells each carrying ~1 KB (the per-run allowance) of one repeated value: allowed, and still quick."""
    body = {"sweep": {"a": list(range(100)), "b": list(range(100)), "c": ["x" * 900]}}
    started = time.process_time()
    response = api_client_for("viewer").post(
        f"/api/experiments/{chem_experiment.pk}/launch-preview/", body, format="json"
    )
    assert response.status_code == 200 and response.json()["run_count"] == 10_000
    assert time.process_time() - started < 3.0
    assert len(response.content) < 200_000  # the first 100 cells, not 10 000


@pytest.mark.parametrize("levels", [5000, 40])
def test_a_deep_dotted_override_key_is_a_400(api_client_for, web_client_for, chem_experiment, levels):
    key = ".".join(["a"] * levels)
    response = api_client_for("viewer").post(
        f"/api/experiments/{chem_experiment.pk}/launch-preview/", {"overrides": [f"{key}=1"]}, format="json"
    )
    assert response.status_code == 400, response.content
    detail = response.json()["detail"]
    if levels == 5000:
        assert "9999 characters long; at most 256" in detail
    else:
        assert "has 40 dotted parts; at most 32 levels" in detail
    url = reverse("runs:run-launch-preview", args=[chem_experiment.workspace.slug, chem_experiment.project.slug,
                                                   chem_experiment.slug])  # fmt: skip
    page = web_client_for("editor").post(url, {"profile": "default", "overrides": f"{key}=1", "params": ""})
    assert page.status_code == 200
    assert (b"dotted parts" if levels == 40 else b"characters long") in page.content


def test_a_deep_override_key_in_a_clone_is_a_400(api_client_for, chem_experiment, editor,
                                                 django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        [run] = run_launch(user=editor, experiment=chem_experiment)
    key = ".".join(["a"] * 5000)
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client_for("editor").post(f"/api/runs/{run.pk}/clone/", {"overrides": [f"{key}=1"]},
                                                 format="json")  # fmt: skip
    assert response.status_code == 400 and "at most 256" in response.json()["detail"]


# --- the queue bound --------------------------------------------------------------------------


def test_queued_runs_per_user_are_bounded(
    api_client_for, web_client_for, chem_experiment, settings, django_capture_on_commit_callbacks
):
    settings.MOLEXP_MAX_QUEUED_RUNS_PER_USER = 5
    client = api_client_for("editor")
    ok = _api_launch(client, chem_experiment, {"sweep": {"s": [1, 2, 3, 4]}}, django_capture_on_commit_callbacks)
    assert ok.status_code == 201
    refused = _api_launch(client, chem_experiment, {"sweep": {"s": [5, 6]}}, django_capture_on_commit_callbacks)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("You have 4 runs waiting in the queue; 2 more would pass the bound of 5")
    assert Run.objects.count() == 4
    url = reverse("runs:run-launch", args=[chem_experiment.workspace.slug, chem_experiment.project.slug,
                                           chem_experiment.slug])  # fmt: skip
    page = web_client_for("editor").post(url, {"profile": "default", "overrides": "", "params": "", "sweep": "s=7,8"})
    assert page.status_code == 429
    assert b"You have 4 runs waiting in the queue" in page.content and b'name="sweep"' in page.content
    assert Run.objects.count() == 4
    # Another member is not held back by the editor's queue; a run that starts frees a place.
    assert (
        _api_launch(api_client_for("owner"), chem_experiment, {}, django_capture_on_commit_callbacks).status_code == 201
    )
    Run.objects.filter(launched_by__username="editor").update(status=RunStatus.RUNNING)
    again = _api_launch(client, chem_experiment, {"sweep": {"s": [5, 6]}}, django_capture_on_commit_callbacks)
    assert again.status_code == 201


def test_queued_runs_per_workspace_are_bounded(
    api_client_for, chem_experiment, owner, settings, django_capture_on_commit_callbacks
):
    settings.MOLEXP_MAX_QUEUED_RUNS_PER_WORKSPACE = 3
    # Queued runs of another workspace do not count against this one.
    other = f.ExperimentFactory(project=f.ProjectFactory(workspace=f.WorkspaceFactory()))
    for number in range(1, 4):
        f.RunFactory(experiment=other, status=RunStatus.QUEUED, number=number)
    assert _api_launch(api_client_for("editor"), chem_experiment, {"sweep": {"s": [1, 2]}},
                       django_capture_on_commit_callbacks).status_code == 201  # fmt: skip
    refused = _api_launch(api_client_for("owner"), chem_experiment, {"sweep": {"s": [1, 2]}},
                          django_capture_on_commit_callbacks)  # fmt: skip
    assert refused.status_code == 429
    assert "This workspace has 2 runs waiting in the queue" in refused.json()["detail"]
    assert "MOLEXP_MAX_QUEUED_RUNS_PER_WORKSPACE" in refused.json()["detail"]
    assert Run.objects.filter(workspace=chem_experiment.workspace).count() == 2


def test_rerun_and_clone_respect_the_queue_bound(api_client_for, chem_experiment, editor, settings,
                                                 django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=False):
        [failed] = run_launch(user=editor, experiment=chem_experiment)
    Run.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED)
    Execution.objects.filter(run=failed).update(status="failed")
    with django_capture_on_commit_callbacks(execute=False):
        run_launch(user=editor, experiment=chem_experiment)
    settings.MOLEXP_MAX_QUEUED_RUNS_PER_USER = 1
    client = api_client_for("editor")
    with django_capture_on_commit_callbacks(execute=False):
        rerun = client.post(f"/api/runs/{failed.pk}/rerun/", {}, format="json")
        clone = client.post(f"/api/runs/{failed.pk}/clone/", {}, format="json")
    assert (rerun.status_code, clone.status_code) == (429, 429)
    assert Run.objects.get(pk=failed.pk).status == RunStatus.FAILED and Run.objects.count() == 2
    failed.refresh_from_db()
    with pytest.raises(Exception, match="1 runs waiting"):
        run_rerun(user=editor, run=failed)


@pytest.mark.parametrize(("field", "message"), [("params", b"Parameters nest too deeply"),
                                                ("sweep", b"The sweep nests too deeply")])  # fmt: skip
def test_a_deeply_nested_json_field_on_the_page_is_a_form_error(web_client_for, chem_experiment, field, message):
    url = reverse("runs:run-launch-preview", args=[chem_experiment.workspace.slug, chem_experiment.project.slug,
                                                   chem_experiment.slug])  # fmt: skip
    data = {"profile": "default", "overrides": "", "params": "", "sweep": ""}
    data[field] = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"
    response = web_client_for("editor").post(url, data)
    assert response.status_code == 200 and message in response.content


def test_reproduce_respects_the_queue_bound_in_page_api_and_command(
    api_client_for, web_client_for, chem_experiment, editor, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        [done] = run_launch(user=editor, experiment=chem_experiment)
        run_launch(user=editor, experiment=chem_experiment)
    Run.objects.filter(pk=done.pk).update(status=RunStatus.SUCCEEDED)
    settings.MOLEXP_MAX_QUEUED_RUNS_PER_USER = 1
    with django_capture_on_commit_callbacks(execute=False):
        api = api_client_for("editor").post(f"/api/runs/{done.pk}/reproduce/", {}, format="json")
        page = web_client_for("editor").post(reverse("runs:run-reproduce", args=[done.pk]), follow=True)
    assert api.status_code == 429 and "1 runs waiting in the queue" in api.json()["detail"]
    assert page.status_code == 200 and b"1 runs waiting in the queue" in page.content
    with pytest.raises(CommandError, match="MOLEXP_MAX_QUEUED_RUNS_PER_USER"):
        call_command("reproduce", str(done.pk), "--user", "editor")
    assert Run.objects.count() == 2
