"""The runs of one experiment (``run_list(filters={"experiment": …})``, the experiment page and
``/api/runs/?experiment=``) are scoped by one value: the experiment's workspace, if the user may
read it (``access.scope_runs_of_experiment``), with the same rule as ``scope_to_user``: members,
scoped tokens (their one workspace), staff (everything), outsiders and anonymous nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from runs_app import selectors as s
from runs_app.models import Membership, Run
from runs_app.services.tokens import scoped_token_create
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign(other_ws):
    """An experiment of another workspace, with one run."""
    experiment = f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws))
    return f.RunFactory(experiment=experiment, number=1)


def _ids(user, experiment_id) -> list[int]:
    return [r.pk for r in s.run_list(user=user, filters={"experiment": experiment_id})]


@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_members_see_the_runs_of_their_experiments_only(users, role, run, foreign):
    assert _ids(users[role], run.experiment_id) == [run.pk]
    assert _ids(users[role], foreign.experiment_id) == []


def test_outsider_anonymous_and_staff(outsider, staff, run, foreign):
    assert _ids(outsider, run.experiment_id) == []
    assert _ids(outsider, foreign.experiment_id) == [foreign.pk]
    assert _ids(AnonymousUser(), run.experiment_id) == []
    assert _ids(staff, run.experiment_id) == [run.pk]
    assert _ids(staff, foreign.experiment_id) == [foreign.pk]
    assert _ids(staff, 10**9) == []


def test_a_run_outside_its_experiments_workspace_is_not_shown(owner, ws, run, foreign):
    """Never wider than ``scope_to_user``: the run's own workspace must be readable too."""
    Membership.objects.filter(user=owner).exclude(workspace=ws).delete()
    Run.objects.filter(pk=foreign.pk).update(experiment_id=run.experiment_id, number=2)  # corrupt on purpose
    assert _ids(owner, run.experiment_id) == [run.pk]
    assert sorted(r.pk for r in s.run_list(user=owner)) == [run.pk]


def test_membership_ends_and_the_runs_go(viewer, ws, run):
    assert _ids(viewer, run.experiment_id) == [run.pk]
    Membership.objects.filter(user=viewer, workspace=ws).delete()
    assert _ids(viewer, run.experiment_id) == []


def test_one_value_not_a_semi_join_over_memberships(owner, run):
    """The check is ``workspace_id = (SELECT … experiment …)``: reverting to the semi-join over the
    memberships (a merge join along the whole workspace index in PostgreSQL) fails here."""
    sql = str(s.run_list(user=owner, filters={"experiment": run.experiment_id}).query)
    run_table = connection.ops.quote_name(Run._meta.db_table)
    assert f'{run_table}."workspace_id" = (SELECT' in sql
    assert f'{run_table}."workspace_id" IN (SELECT' not in sql


def test_api_list_of_one_experiment(editor, ws, other_ws, run, foreign):
    api = APIClient()
    api.force_authenticate(editor)
    for url in (f"/api/runs/?experiment={run.experiment_id}", f"/api/runs/?experiment={run.experiment_id}&sort=number"):
        with CaptureQueriesContext(connection) as ctx:
            body = api.get(url).json()
        assert [r["id"] for r in body["results"]] == [run.pk]
        counts = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT COUNT")]
        assert len(counts) == 1 and '"workspace_id" = (SELECT' in counts[0]  # the API's list takes the same path
    assert api.get(f"/api/runs/?experiment={foreign.experiment_id}").json()["results"] == []
    assert api.get("/api/runs/?experiment=1.5").status_code == 400  # the FilterSet still validates it
    # A scoped token of the editor's other workspace sees none of this one's runs, and its own.
    f.MembershipFactory(workspace=other_ws, user=editor, role="editor")
    _, key = scoped_token_create(user=editor, workspace=other_ws, name="ci", max_role="viewer")
    scoped = APIClient()
    scoped.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert scoped.get(f"/api/runs/?experiment={run.experiment_id}").json()["results"] == []
    assert [r["id"] for r in scoped.get(f"/api/runs/?experiment={foreign.experiment_id}").json()["results"]] == [
        foreign.pk
    ]
