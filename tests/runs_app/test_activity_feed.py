"""The workspace activity feed: run status events and asset additions, newest first, filterable,
keyset-paginated, visible to members only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runs_app.models import RunEvent
from tests import factories as f

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=1)


def _event(run, to_status, minutes, from_status=""):
    e = f.RunEventFactory(run=run, from_status=from_status, to_status=to_status)
    RunEvent.objects.filter(pk=e.pk).update(created_at=T0 + timedelta(minutes=minutes))
    return e


def _asset(ws, minutes, **kwargs):
    from assets_app.models import Asset

    a = f.AssetFactory(workspace=ws, **kwargs)
    Asset.objects.filter(pk=a.pk).update(created_at=T0 + timedelta(minutes=minutes))
    return a


@pytest.fixture
def feed(ws, project, experiment, owner, other_ws):
    """Events and assets at known times in ``ws``, a second project, and noise in ``other_ws``."""
    run = f.RunFactory(experiment=experiment, launched_by=owner)
    p2 = f.ProjectFactory(workspace=ws, name="Docking", slug="docking")
    run2 = f.RunFactory(experiment=f.ExperimentFactory(project=p2))
    items = {
        "queued": _event(run, "queued", 1, "pending"),
        "data": _asset(ws, 2, kind="data", name="ligands.csv", project=project),
        "running": _event(run, "running", 3, "queued"),
        "log": _asset(ws, 4, kind="log", name="run.log", project=project),
        "p2_failed": _event(run2, "failed", 5, "running"),
        "succeeded": _event(run, "succeeded", 6, "running"),
    }
    secret_run = f.RunFactory(experiment=f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)))
    _event(secret_run, "queued", 7)
    _asset(other_ws, 8, name="secret.csv")
    return items


def _api(client, ws, query=""):
    response = client.get(f"/api/workspaces/{ws.pk}/activity/{query}")
    assert response.status_code == 200, response.content
    return response.json()


def _keys(body):
    return [(e["source"], e["id"]) for e in body["results"]]


def _expected(feed, *names):
    return [("run" if isinstance(feed[n], RunEvent) else "asset", feed[n].pk) for n in names]


def test_entries_are_merged_newest_first(api_client_for, ws, feed):
    body = _api(api_client_for("viewer"), ws)
    assert _keys(body) == _expected(feed, "succeeded", "p2_failed", "log", "running", "data", "queued")
    assert body["next"] is None
    first = body["results"][0]
    assert first["to_status"] == "succeeded" and first["from_status"] == "running"
    assert first["launched_by"] == "owner"
    assert body["results"][2]["kind"] == "log"


def test_outsider_activity_never_appears(api_client_for, ws, feed):
    body = _api(api_client_for("owner"), ws)
    assert "secret.csv" not in str(body)
    assert len(body["results"]) == 6


def test_filters(api_client_for, ws, project, feed):
    client = api_client_for("editor")
    assert _keys(_api(client, ws, "?kind=runs")) == _expected(feed, "succeeded", "p2_failed", "running", "queued")
    assert _keys(_api(client, ws, "?kind=assets")) == _expected(feed, "log", "data")
    assert _keys(_api(client, ws, "?status=running")) == _expected(feed, "running")
    assert _keys(_api(client, ws, "?asset_kind=data")) == _expected(feed, "data")
    assert _keys(_api(client, ws, f"?project={project.pk}")) == _expected(
        feed, "succeeded", "log", "running", "data", "queued"
    )
    assert _keys(_api(client, ws, f"?project={project.pk}&kind=runs&status=failed")) == []


@pytest.mark.parametrize(
    "query", ["?kind=jobs", "?status=exploded", "?asset_kind=movie", "?project=abc", "?cursor=not-a-cursor"]
)
def test_bad_filters_are_400(api_client_for, ws, feed, query):
    response = api_client_for("viewer").get(f"/api/workspaces/{ws.pk}/activity/{query}")
    assert response.status_code == 400
    assert response.json()["detail"]


def test_cursor_pagination_walks_every_entry_once(api_client_for, ws, feed, monkeypatch):
    from runs_app import selectors

    monkeypatch.setattr(selectors, "ACTIVITY_PAGE_SIZE", 2)
    client = api_client_for("viewer")
    seen, url, pages = [], f"/api/workspaces/{ws.pk}/activity/", 0
    while url:
        body = client.get(url).json()
        seen += _keys(body)
        url, pages = body["next"], pages + 1
    assert pages == 3
    assert seen == _expected(feed, "succeeded", "p2_failed", "log", "running", "data", "queued")


def test_cursor_ties_at_the_same_instant(api_client_for, ws, experiment, monkeypatch):
    """Entries of both sources at one instant are neither skipped nor repeated across pages."""
    from runs_app import selectors

    run = f.RunFactory(experiment=experiment)
    events = [_event(run, "queued", 0) for _ in range(3)]
    assets = [_asset(ws, 0) for _ in range(3)]
    monkeypatch.setattr(selectors, "ACTIVITY_PAGE_SIZE", 2)
    client = api_client_for("viewer")
    seen, url = [], f"/api/workspaces/{ws.pk}/activity/"
    while url:
        body = client.get(url).json()
        seen += _keys(body)
        url = body["next"]
    assert seen == [("run", e.pk) for e in reversed(events)] + [("asset", a.pk) for a in reversed(assets)]


def test_page_lists_filters_and_pages(web_client_for, ws, feed, monkeypatch):
    from runs_app import selectors

    client = web_client_for("viewer")
    response = client.get("/w/lab/activity/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="activity-filters"' in html and 'hx-get="/w/lab/activity/"' in html and 'hx-push-url="true"' in html
    assert "ligands.csv" in html and "secret.csv" not in html
    assert f'href="{feed["succeeded"].run.get_absolute_url()}"' in html
    assert "launched by owner" in html

    fragment = client.get("/w/lab/activity/?kind=assets", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    text = fragment.content.decode()
    assert text.lstrip().startswith('<div id="activity-feed">')
    assert "ligands.csv" in text and 'data-source="run"' not in text

    monkeypatch.setattr(selectors, "ACTIVITY_PAGE_SIZE", 3)
    first = client.get("/w/lab/activity/?kind=runs")
    cursor = first.context["next_cursor"]
    assert cursor and "Older" in first.content.decode()
    older = client.get(f"/w/lab/activity/?kind=runs&cursor={cursor}")
    assert [e["pk"] for e in older.context["entries"]] == [feed["queued"].pk]
    assert older.context["next_cursor"] is None


def test_page_bad_filter_is_400_with_message(web_client_for, ws):
    response = web_client_for("viewer").get("/w/lab/activity/?status=exploded")
    assert response.status_code == 400
    assert "Unknown run status" in response.content.decode()


def test_workspace_page_links_to_activity(web_client_for, ws):
    assert 'href="/w/lab/activity/"' in web_client_for("viewer").get("/w/lab/").content.decode()
