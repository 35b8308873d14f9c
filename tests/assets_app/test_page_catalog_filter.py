"""The catalog page filters with the shared AssetFilterSet (kind, workspace, project, tag, name)."""

from __future__ import annotations

import pytest

from assets_app.choices import AssetKind, ScopeKind
from assets_app.models import Asset
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(ws, project):
    f.AssetFactory(workspace=ws, name="raw.csv", kind=AssetKind.DATA, tags=["raw"])
    f.AssetFactory(workspace=ws, name="model.pt", kind=AssetKind.ARTIFACT, tags=["model"])
    f.AssetFactory(
        workspace=ws,
        project=project,
        scope=ScopeKind.PROJECT,
        scope_key=Asset.make_scope_key(ws.pk, project.pk, None, None),
        name="train.log",
        kind=AssetKind.LOG,
    )


def _names(client, query):
    return sorted(a.name for a in client.get("/catalog/" + query).context["page"].object_list)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["model.pt", "raw.csv", "train.log"]),
        ("?kind=artifact", ["model.pt"]),
        ("?tag=raw", ["raw.csv"]),
        ("?name=train.log", ["train.log"]),
        ("?kind=bogus", ["model.pt", "raw.csv", "train.log"]),
    ],
)
def test_filters(web_client_for, catalog, query, expected):
    assert _names(web_client_for("viewer"), query) == expected


def test_project_and_workspace_filters(web_client_for, catalog, project, ws):
    client = web_client_for("viewer")
    assert _names(client, f"?project={project.pk}") == ["train.log"]
    assert len(_names(client, f"?workspace={ws.pk}")) == 3
