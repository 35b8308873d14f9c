"""The "How to reproduce" panel: commands, git state and diff, environment, inputs with SHA-256."""

from __future__ import annotations

import hashlib

import pytest

from runs_app.models import Run
from runs_app.services import run_launch

from .reproduce_workflows import *  # noqa: F403 - fixtures (steady, noisy, repro_dir, _no_broker) and helpers
from .reproduce_workflows import execute

pytestmark = pytest.mark.django_db(transaction=True)


def test_how_to_panel_shows_commands_git_environment_and_inputs(steady, editor, web_client_for):
    [run] = run_launch(
        user=editor, experiment=steady, profile="double", overrides=["scale=3"], params={"dataset": "numbers.txt"}
    )
    snapshot = {**run.workflow_snapshot, "git_commit": "abc123def", "git_branch": "main", "git_dirty": True,
                "git_diff": "--- a/steady.py\n+++ b/steady.py\n+# local change"}  # fmt: skip
    Run.objects.filter(pk=run.pk).update(workflow_snapshot=snapshot)
    run = execute(run)
    html = web_client_for("viewer").get(f"/runs/{run.pk}/how-to/").content.decode()
    launch = html.split('id="how-to-launch-command">')[1].split("</pre>")[0]
    assert "git checkout abc123def" in launch
    assert (
        "python manage.py launch lab/qm9/steady --profile double --override scale=3 --param dataset=numbers.txt"
        in launch
    )
    assert "python manage.py reproduce &#x27;lab/qm9/steady#1&#x27; --wait" in html
    assert "abc123def" in html and "main" in html and "dirty" in html and "# local change" in html
    assert "<details" in html.split('id="how-to-git"')[1]
    env = html.split('id="how-to-environment"')[1]
    assert "Python" in env and "Django==" in env
    inputs = html.split('id="how-to-inputs"')[1].split("</table>")[0]
    assert "numbers.txt" in inputs and hashlib.sha256(b"1 2 3 4").hexdigest() in inputs and "v1" in inputs


def test_how_to_panel_is_loaded_from_the_run_page(steady, editor, web_client_for):
    [run] = run_launch(user=editor, experiment=steady)
    page = web_client_for("viewer").get(run.get_absolute_url()).content.decode()
    assert f'hx-get="/runs/{run.pk}/how-to/"' in page
    html = web_client_for("viewer").get(f"/runs/{run.pk}/how-to/").content.decode()
    assert "No environment recorded yet" in html and "resolved no input asset yet" in html
