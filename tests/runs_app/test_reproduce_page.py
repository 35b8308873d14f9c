"""The run page: Reproduce button (editors, finished runs), verdict panel polling until 286, reproductions."""

from __future__ import annotations

import pytest

from runs_app.models import Run
from runs_app.services import run_launch, run_reproduce

from .reproduce_workflows import *  # noqa: F403 - fixtures (steady, noisy, repro_dir, _no_broker) and helpers
from .reproduce_workflows import execute, finished_run

pytestmark = pytest.mark.django_db(transaction=True)

POST_EXPECTED = {"owner": 302, "editor": 302, "viewer": 403, "outsider": 404}


@pytest.mark.parametrize("role", list(POST_EXPECTED))
def test_reproduce_post_permission_matrix(steady, editor, web_client_for, role):
    original = finished_run(steady, editor)
    response = web_client_for(role).post(f"/runs/{original.pk}/reproduce/")
    assert response.status_code == POST_EXPECTED[role]
    created = Run.objects.filter(reproduction_of=original)
    if POST_EXPECTED[role] == 302:
        [copy] = created
        assert response["Location"] == copy.get_absolute_url()
    else:
        assert not created.exists()


def test_anonymous_is_sent_to_login_and_get_is_refused(steady, editor, client, web_client_for):
    original = finished_run(steady, editor)
    response = client.post(f"/runs/{original.pk}/reproduce/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert web_client_for("editor").get(f"/runs/{original.pk}/reproduce/").status_code == 405


def test_reproduce_needs_csrf(steady, editor):
    from django.test import Client

    original = finished_run(steady, editor)
    c = Client(enforce_csrf_checks=True)
    c.force_login(editor)
    assert c.post(f"/runs/{original.pk}/reproduce/").status_code == 403


@pytest.mark.parametrize("role,shown", [("owner", True), ("editor", True), ("viewer", False)])
def test_button_only_for_editors_on_finished_runs(steady, editor, web_client_for, role, shown):
    original = finished_run(steady, editor)
    page = web_client_for(role).get(original.get_absolute_url()).content.decode()
    assert 'id="run-reproduce"' in page and 'id="run-how-to"' in page
    assert ('id="reproduce-button"' in page) is shown
    panel = web_client_for(role).get(f"/runs/{original.pk}/reproduce/panel/")
    assert ('id="reproduce-button"' in panel.content.decode()) is shown


def test_no_button_on_an_unfinished_run_and_a_409_becomes_a_message(steady, editor, web_client_for):
    [run] = run_launch(user=editor, experiment=steady)
    client = web_client_for("editor")
    assert 'id="reproduce-button"' not in client.get(run.get_absolute_url()).content.decode()
    response = client.post(f"/runs/{run.pk}/reproduce/", follow=True)
    assert "only a succeeded or failed run can be reproduced" in response.content.decode()
    assert not Run.objects.filter(reproduction_of=run).exists()


def test_verdict_panel_polls_until_the_verdict_then_stops(steady, editor, web_client_for):
    original = finished_run(steady, editor)
    copy = run_reproduce(user=editor, run=original)
    client = web_client_for("viewer")
    pending = client.get(f"/runs/{copy.pk}/reproduce/panel/", HTTP_HX_REQUEST="true")
    assert pending.status_code == 200
    html = pending.content.decode()
    assert 'id="verdict-pending"' in html and 'hx-trigger="every 2s"' in html
    original_panel = client.get(f"/runs/{original.pk}/reproduce/panel/")
    assert original_panel.status_code == 200 and "pending" in original_panel.content.decode()
    execute(copy)
    done = client.get(f"/runs/{copy.pk}/reproduce/panel/", HTTP_HX_REQUEST="true")
    assert done.status_code == 286
    html = done.content.decode()
    assert "alert-success" in html and "reproduced: 2 of 2 artifacts identical" in html
    assert "every 2s" not in html
    original_panel = client.get(f"/runs/{original.pk}/reproduce/panel/")
    assert original_panel.status_code == 286
    assert 'id="run-reproductions"' in original_panel.content.decode()
    assert f"{copy.experiment.name} #{copy.number}" in original_panel.content.decode()  # SPEC §15: one run identity


def test_not_reproduced_shows_a_table_of_what_differed(noisy, editor, web_client_for):
    original = finished_run(noisy, editor)
    copy = execute(run_reproduce(user=editor, run=original))
    html = web_client_for("viewer").get(f"/runs/{copy.pk}/reproduce/panel/").content.decode()
    assert "alert-danger" in html and 'id="verdict-differences"' in html
    table = html.split('id="verdict-differences"')[1].split("</table>")[0]
    assert "draw.json" in table and "stamp.txt" in table and "stable.txt" not in table


def test_panels_are_404_for_outsiders(steady, editor, web_client_for):
    original = finished_run(steady, editor)
    client = web_client_for("outsider")
    assert client.get(f"/runs/{original.pk}/reproduce/panel/").status_code == 404
    assert client.get(f"/runs/{original.pk}/how-to/").status_code == 404
