"""Run lists page by keyset cursor (SPEC §11): every run once, in (created_at desc, id desc) order,
forwards and backwards, stable while runs arrive, bad cursors are 400, scoping holds, and a page
costs the same few queries whatever its size or depth (API, experiment page, workspace runs page)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from molexp_site import keyset
from runs_app.models import Run
from tests import factories as f

pytestmark = pytest.mark.django_db

MAX_QUERIES = 6
HTMX = {"HTTP_HX_REQUEST": "true"}
EXP = "/w/lab/p/qm9/e/baseline/"
WS_RUNS = "/w/lab/runs/"


def _make_runs(experiment, n: int) -> list[Run]:
    """``n`` runs whose ``created_at`` is NOT in id order and comes in groups of three equal instants."""
    start = Run.objects.filter(experiment=experiment).count() + 1
    runs = [f.RunFactory(experiment=experiment, number=start + i) for i in range(n)]
    base = timezone.now() - timedelta(days=1)
    for i, run in enumerate(runs):
        # groups of 3 share an instant (ties broken by id); odd groups are older than even ones
        group = i // 3
        run.created_at = base + timedelta(minutes=(group * 7) % 11)
        Run.objects.filter(pk=run.pk).update(created_at=run.created_at)
    return runs


def _expected(runs) -> list[int]:
    return [r.pk for r in sorted(runs, key=lambda r: (r.created_at, r.pk), reverse=True)]


def _walk_api(client, url: str) -> tuple[list[list[int]], list[dict]]:
    pages, bodies = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([r["id"] for r in body["results"]])
        bodies.append(body)
        url = body["next"]
        assert len(pages) < 100
    return pages, bodies


def test_walking_forward_returns_every_run_once_in_order(api_client_for, experiment):
    runs = _make_runs(experiment, 23)
    pages, bodies = _walk_api(api_client_for("viewer"), "/api/runs/?page_size=4")
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 3]
    assert [pk for page in pages for pk in page] == _expected(runs)
    assert bodies[0]["previous"] is None and all(b["previous"] for b in bodies[1:])
    assert all("cursor=" in b["next"] and "page=" not in b["next"] for b in bodies[:-1])
    assert all(b["count"] == 23 and b["count_capped"] is False for b in bodies)


def test_ties_on_created_at_are_broken_by_id(api_client_for, experiment):
    runs = _make_runs(experiment, 6)
    Run.objects.filter(pk__in=[r.pk for r in runs]).update(created_at=timezone.now())
    pages, _ = _walk_api(api_client_for("viewer"), "/api/runs/?page_size=2")
    assert [pk for page in pages for pk in page] == sorted((r.pk for r in runs), reverse=True)


def test_walking_backwards_gives_the_same_pages(api_client_for, experiment):
    _make_runs(experiment, 17)
    client = api_client_for("viewer")
    forward, bodies = _walk_api(client, "/api/runs/?page_size=5")
    backward, url = [], bodies[-1]["previous"]
    while url:
        body = client.get(url).json()
        backward.append([r["id"] for r in body["results"]])
        url = body["previous"]
    assert backward == forward[-2::-1]


def test_backwards_stays_put_while_new_runs_arrive(api_client_for, experiment):
    runs = _make_runs(experiment, 10)
    client = api_client_for("viewer")
    first = client.get("/api/runs/?page_size=4").json()
    second = client.get(first["next"]).json()
    newer = [f.RunFactory(experiment=experiment, number=100 + i) for i in range(3)]
    back = client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == _expected(runs)[:4]  # the page we came from
    top = client.get(back["previous"]).json()
    assert [r["id"] for r in top["results"]] == [r.pk for r in reversed(newer)] + [_expected(runs)[0]]
    assert top["previous"] is None


def test_backwards_to_the_top_serves_a_full_first_page(api_client_for, experiment):
    runs = _make_runs(experiment, 10)
    client = api_client_for("viewer")
    first = client.get("/api/runs/?page_size=4").json()
    second = client.get(first["next"]).json()
    Run.objects.filter(pk__in=_expected(runs)[:2]).delete()  # only two rows are left above page 2
    back = client.get(second["previous"]).json()
    assert back["previous"] is None
    assert [r["id"] for r in back["results"]] == _expected(runs)[2:6]


def test_next_page_stays_put_while_new_runs_arrive(api_client_for, experiment):
    runs = _make_runs(experiment, 12)
    client = api_client_for("viewer")
    first = client.get("/api/runs/?page_size=5").json()
    for i in range(4):
        f.RunFactory(experiment=experiment, number=200 + i)
    second = client.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == _expected(runs)[5:10]


def test_page_number_is_served_for_shallow_pages_with_cursor_links(api_client_for, experiment):
    runs = _make_runs(experiment, 9)
    client = api_client_for("viewer")
    body = client.get("/api/runs/?page_size=3&page=2").json()
    assert [r["id"] for r in body["results"]] == _expected(runs)[3:6]
    assert "cursor=" in body["next"] and "page=" not in body["next"]
    assert [r["id"] for r in client.get(body["next"]).json()["results"]] == _expected(runs)[6:9]
    assert [r["id"] for r in client.get(body["previous"]).json()["results"]] == _expected(runs)[:3]


def test_page_number_past_the_offset_limit_is_404(api_client_for, experiment, monkeypatch):
    _make_runs(experiment, 9)
    monkeypatch.setattr(keyset, "MAX_OFFSET", 4)
    client = api_client_for("viewer")
    assert client.get("/api/runs/?page_size=2&page=3").status_code == 200  # offset 4
    response = client.get("/api/runs/?page_size=2&page=4")  # offset 6
    assert response.status_code == 404 and "cursor" in response.json()["detail"]


def test_count_is_capped(api_client_for, experiment, monkeypatch):
    _make_runs(experiment, 8)
    monkeypatch.setattr(keyset, "COUNT_CAP", 5)
    body = api_client_for("viewer").get("/api/runs/?page_size=3").json()
    assert body["count"] == 5 and body["count_capped"] is True
    body = api_client_for("viewer").get(f"/api/runs/?experiment={experiment.pk}&status=failed").json()
    assert body["count"] == 0 and body["count_capped"] is False


def _cursor_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["cursor"][0]


def _cursor(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _good_fingerprint(client) -> str:
    body = client.get("/api/runs/?page_size=1").json()
    raw = _cursor_of(body["next"])
    return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))["o"]


@pytest.mark.parametrize(
    "make",
    [
        lambda o: "garbage",
        lambda o: "%%%",
        lambda o: "x" * 2000,
        lambda o: _cursor([1, 2]),
        lambda o: _cursor({"d": "n", "o": "00000000", "k": ["2024-01-01T00:00:00+00:00", 1]}),  # other ordering
        lambda o: _cursor({"d": "x", "o": o, "k": ["2024-01-01T00:00:00+00:00", 1]}),
        lambda o: _cursor({"d": "n", "o": o, "k": ["2024-01-01T00:00:00+00:00"]}),
        lambda o: _cursor({"d": "n", "o": o, "k": ["yesterday", 1]}),
        lambda o: _cursor({"d": "n", "o": o, "k": ["2024-01-01T00:00:00", 1]}),  # naive
        lambda o: _cursor({"d": "n", "o": o, "k": ["2024-01-01T00:00:00+00:00", "1"]}),
        lambda o: _cursor({"d": "p", "o": o, "k": ["2024-01-01T00:00:00+00:00", 2**70]}),
        lambda o: _cursor({"d": "n", "o": o, "k": ["2024-01-01T00:00:00+00:00", True]}),
    ],
)
def test_bad_cursor_is_json_400(api_client_for, experiment, make):
    _make_runs(experiment, 2)
    client = api_client_for("viewer")
    response = client.get("/api/runs/", {"cursor": make(_good_fingerprint(client))})
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"].lower()


def test_bad_cursor_on_pages_is_400_with_a_message(web_client_for, experiment):
    _make_runs(experiment, 2)
    client = web_client_for("viewer")
    for url in (EXP, WS_RUNS):
        response = client.get(url, {"cursor": "garbage"})
        assert response.status_code == 400
        assert "This cursor is not valid" in response.content.decode()


def test_outsider_sees_nothing_and_counts_do_not_leak(api_client_for, experiment, other_ws):
    _make_runs(experiment, 7)
    mine = f.RunFactory(experiment=f.ExperimentFactory(project=f.ProjectFactory(workspace=other_ws)))
    owner_body = api_client_for("owner").get("/api/runs/?page_size=2").json()
    outsider = api_client_for("outsider")
    body = outsider.get("/api/runs/?page_size=2").json()
    assert body["count"] == 1 and [r["id"] for r in body["results"]] == [mine.pk] and body["next"] is None
    # a cursor taken from the owner's list only positions the outsider's own (scoped) list
    followed = outsider.get("/api/runs/", {"cursor": _cursor_of(owner_body["next"])}).json()
    assert {r["id"] for r in followed["results"]} <= {mine.pk} and followed["count"] == 1
    assert outsider.get(f"/api/runs/?experiment={experiment.pk}").json()["count"] == 0


def _queries(client, url, **extra) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **extra)
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries), response


def test_api_query_count_is_constant_whatever_the_page_size_or_depth(api_client_for, experiment):
    client = api_client_for("viewer")
    _make_runs(experiment, 3)
    small, _ = _queries(client, "/api/runs/?page_size=2")
    _make_runs(experiment, 117)
    big, response = _queries(client, "/api/runs/?page_size=100")
    url = "/api/runs/?page_size=7"
    for _ in range(12):  # a deep page by cursor
        url = client.get(url).json()["next"]
    deep, deep_response = _queries(client, url)
    filtered, _ = _queries(client, f"{url}&experiment={experiment.pk}&status=queued")
    assert len(response.json()["results"]) == 100 and len(deep_response.json()["results"]) == 7
    assert small == big == deep <= MAX_QUERIES
    assert filtered <= MAX_QUERIES


@pytest.mark.parametrize("url", [EXP, WS_RUNS])
def test_page_query_count_is_constant_whatever_the_rows_or_depth(web_client_for, experiment, url):
    client = web_client_for("viewer")
    _make_runs(experiment, 3)
    small, _ = _queries(client, url, **HTMX)
    full_small, _ = _queries(client, url)
    _make_runs(experiment, 80)
    big, response = _queries(client, url, **HTMX)
    full_big, _ = _queries(client, url)
    page = response.context["page"]
    assert len(page.object_list) == 25 and page.next_cursor
    cursor = page.next_cursor
    for _ in range(2):
        cursor = client.get(url, {"cursor": cursor}, **HTMX).context["page"].next_cursor
    deep, deep_response = _queries(client, f"{url}?cursor={cursor}", **HTMX)
    assert len(deep_response.context["page"].object_list) == 8
    full_deep, _ = _queries(client, f"{url}?cursor={cursor}")
    assert small == big == deep <= MAX_QUERIES
    assert full_small == full_big == full_deep <= MAX_QUERIES


@pytest.mark.parametrize("url", [EXP, WS_RUNS])
def test_pages_walk_every_run_once_with_older_and_newer_links(web_client_for, experiment, url):
    runs = _make_runs(experiment, 55)
    client = web_client_for("viewer")
    seen, cursors, cursor = [], [], None
    while True:
        response = client.get(url, {"cursor": cursor} if cursor else {}, **HTMX)
        page = response.context["page"]
        seen += [r.pk for r in page.object_list]
        cursors.append(page.previous_cursor)
        if not page.has_next:
            break
        assert f"cursor={page.next_cursor}" in response.content.decode()  # the "Older" link
        cursor = page.next_cursor
    assert seen == _expected(runs)
    back = client.get(url, {"cursor": cursors[-1]}, **HTMX).context["page"]
    assert [r.pk for r in back.object_list] == _expected(runs)[25:50]
