"""Selectors scope every read to the user's workspaces; staff see all; outsiders get 404."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from assets_app.selectors import asset_get, asset_list
from runs_app import selectors as s
from tests import factories as f


@pytest.fixture
def rows(ws, other_ws, run):
    foreign_run = f.RunFactory(experiment=f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)))
    mine = f.AssetFactory(workspace=ws)
    theirs = f.AssetFactory(workspace=other_ws)
    return {"run": run, "foreign_run": foreign_run, "asset": mine, "foreign_asset": theirs}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["owner", "editor", "viewer"])
def test_members_see_their_workspace_only(users, role, ws, rows):
    user = users[role]
    assert list(s.workspace_list(user=user)) == [ws]
    assert [r.pk for r in s.run_list(user=user)] == [rows["run"].pk]
    assert [a.pk for a in asset_list(user=user)] == [rows["asset"].pk]
    with pytest.raises(Http404):
        s.run_get(user=user, pk=rows["foreign_run"].pk)
    with pytest.raises(Http404):
        asset_get(user=user, pk=rows["foreign_asset"].pk)


@pytest.mark.django_db
def test_outsider_sees_nothing_of_ws(outsider, ws, rows, project, experiment):
    assert ws not in s.workspace_list(user=outsider)
    assert rows["run"].pk not in [r.pk for r in s.run_list(user=outsider)]
    assert s.project_list(user=outsider, workspace=ws).count() == 0
    for call in (
        lambda: s.workspace_get(user=outsider, slug="lab"),
        lambda: s.project_get(user=outsider, pk=project.pk),
        lambda: s.experiment_get(user=outsider, pk=experiment.pk),
        lambda: s.run_get(user=outsider, pk=rows["run"].pk),
        lambda: asset_get(user=outsider, pk=rows["asset"].pk),
    ):
        with pytest.raises(Http404):
            call()


@pytest.mark.django_db
def test_anonymous_sees_nothing(rows):
    anon = AnonymousUser()
    assert s.workspace_list(user=anon).count() == 0
    assert s.run_list(user=anon).count() == 0
    assert asset_list(user=anon).count() == 0


@pytest.mark.django_db
def test_staff_see_everything(staff, rows):
    assert s.workspace_list(user=staff).count() == 2
    assert s.run_list(user=staff).count() == 2
    assert asset_list(user=staff).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["abc", None, "1; DROP TABLE x", -1])
def test_garbage_ids_are_not_found(owner, ws, bad):
    with pytest.raises(Http404):
        s.run_get(user=owner, pk=bad)
