"""Cancel, rerun, resume and clone through the run page: POST forms (and htmx), roles, conflicts as messages."""

from __future__ import annotations

import pytest

from runs_app.choices import ExecutionStatus, RunStatus, Trigger
from runs_app.models import Run
from runs_app.services import run_launch
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued_run(chem_experiment, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        [run] = run_launch(user=editor, experiment=chem_experiment, profile="quick-test")
    return run


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _failed(run: Run) -> Run:
    run.executions.update(status=ExecutionStatus.FAILED)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    run.refresh_from_db()
    return run


@pytest.mark.parametrize(
    ("role", "expected"), [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404), ("anonymous", 302)]
)
def test_cancel_by_role(web_client_for, users, queued_run, role, expected, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = web_client_for(role).post(f"/runs/{queued_run.pk}/cancel/")
    assert response.status_code == expected
    queued_run.refresh_from_db()
    if role in ("owner", "editor"):
        assert response["Location"] == queued_run.get_absolute_url()
        assert queued_run.status == RunStatus.CANCELLED
    else:
        assert queued_run.status == RunStatus.QUEUED


def test_cancel_of_a_finished_run_is_a_conflict_message(web_client_for, queued_run):
    run = _failed(queued_run)
    response = web_client_for("editor").post(f"/runs/{run.pk}/cancel/", follow=True)
    assert response.status_code == 200
    assert any("only queued or running runs can be cancelled" in m for m in _messages(response))
    assert "alert-danger" in response.content.decode()
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


@pytest.mark.parametrize("action", ["rerun", "resume"])
def test_rerun_and_resume_queue_a_new_execution(web_client_for, queued_run, action, django_capture_on_commit_callbacks):
    run = _failed(queued_run)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = web_client_for("editor").post(f"/runs/{run.pk}/{action}/")
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED
    latest = run.executions.order_by("-number").first()
    assert latest.number == 2 and latest.trigger == Trigger(action)
    assert len(callbacks) == 1


@pytest.mark.parametrize("action", ["rerun", "resume"])
def test_rerun_of_a_queued_run_is_a_conflict_message(web_client_for, queued_run, action):
    response = web_client_for("editor").post(f"/runs/{queued_run.pk}/{action}/", follow=True)
    assert any("needs failed, cancelled or lost" in m for m in _messages(response))
    assert queued_run.executions.count() == 1


@pytest.mark.parametrize("action", ["cancel", "rerun", "resume", "clone"])
def test_viewer_gets_403_and_outsider_404_for_every_action(web_client_for, users, queued_run, action):
    assert web_client_for("viewer").post(f"/runs/{queued_run.pk}/{action}/").status_code == 403
    assert web_client_for("outsider").post(f"/runs/{queued_run.pk}/{action}/").status_code == 404
    assert web_client_for("editor").get(f"/runs/{queued_run.pk}/{action}/").status_code == 405


def test_clone_with_overrides_opens_the_new_run(web_client_for, queued_run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = web_client_for("editor").post(f"/runs/{queued_run.pk}/clone/", {"overrides": "optimizer.lr=0.5\n"})
    clone = Run.objects.exclude(pk=queued_run.pk).get()
    assert response.status_code == 302 and response["Location"] == clone.get_absolute_url()
    assert clone.cloned_from_id == queued_run.pk
    assert clone.config == {**queued_run.config, "optimizer": {"lr": 0.5}}


def test_clone_with_a_bad_override_is_a_message(web_client_for, queued_run):
    response = web_client_for("editor").post(f"/runs/{queued_run.pk}/clone/", {"overrides": "novalue"}, follow=True)
    assert any("Malformed override" in m for m in _messages(response))
    assert Run.objects.count() == 1


def test_htmx_actions_answer_with_a_client_redirect(web_client_for, queued_run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = web_client_for("editor").post(f"/runs/{queued_run.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == queued_run.get_absolute_url()


def test_buttons_follow_the_status_and_the_role(web_client_for, experiment):
    running = f.RunFactory(experiment=experiment, status=RunStatus.RUNNING)
    failed = f.RunFactory(experiment=experiment, status=RunStatus.FAILED)
    editor = web_client_for("editor")
    body = editor.get(running.get_absolute_url()).content.decode()
    assert f'action="/runs/{running.pk}/cancel/"' in body and f'hx-post="/runs/{running.pk}/cancel/"' in body
    assert f'action="/runs/{running.pk}/rerun/"' not in body
    body = editor.get(failed.get_absolute_url()).content.decode()
    assert f'action="/runs/{failed.pk}/rerun/"' in body and f'action="/runs/{failed.pk}/resume/"' in body
    assert f'action="/runs/{failed.pk}/cancel/"' not in body
    assert 'name="csrfmiddlewaretoken"' in body
    viewer_body = web_client_for("viewer").get(failed.get_absolute_url()).content.decode()
    assert "/rerun/" not in viewer_body and "/cancel/" not in viewer_body and "/clone/" not in viewer_body


def test_status_fragment_swaps_in_the_buttons_of_the_new_status(web_client_for, experiment):
    run = f.RunFactory(experiment=experiment, status=RunStatus.CANCELLED)
    body = web_client_for("owner").get(f"/runs/{run.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert f'hx-post="/runs/{run.pk}/rerun/"' in body and f'hx-post="/runs/{run.pk}/resume/"' in body


def test_control_forms_need_csrf(users, queued_run):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["editor"])
    assert client.post(f"/runs/{queued_run.pk}/cancel/").status_code == 403
    queued_run.refresh_from_db()
    assert queued_run.status == RunStatus.QUEUED
