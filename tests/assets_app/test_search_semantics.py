"""Catalog search semantics through the API (run on SQLite and on PostgreSQL): the SPEC §8
examples return exactly the expected assets; free words reach traceback and log text; every
filter key; permission scoping of results and facet counts."""

from __future__ import annotations

import pytest

from . import search_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(ws, project, experiment, other_ws, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(tmp_path)}},
    }
    return search_data.build(ws, project, experiment, other_ws)


def _ids(client, q, **extra):
    response = client.get("/api/assets/", {"q": q, "page_size": 100, **extra})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def _pk(assets, *names):
    return {assets[n][0].pk if isinstance(assets[n], tuple) else assets[n].pk for n in names}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind:error_trace experiment:baseline status:failed", ["t_base"]),
        ('kind:error_trace "CUDA out of memory" (project:qm9 OR project:md)', ["t_base", "t_md"]),
        ("kind:checkpoint tag:best -status:failed", ["c_best_ok"]),
        ("kind:checkpoint tag:best NOT status:failed", ["c_best_ok"]),
        ("kind:error_trace NOT (project:qm9)", ["t_md"]),
        ("overflowing", ["t_base", "t_md"]),  # a word only in the traceback
        ("gradient exploded", ["log"]),  # log text indexed at finalize
        ('"bad smiles"', ["t_tuning"]),
        ("zinc15", ["lig1"]),  # metadata
        ("library", ["lig1"]),  # description
        ("archive", ["old"]),  # tag as a free word
        ("name:lig*.csv", ["lig1", "lig2"]),
        ("name:ligands.cs?", ["lig1", "lig2"]),
        ('name:"old notes.txt"', ["old"]),
        ("name:LIGANDS.CSV version:2", ["lig2"]),
        ("kind:checkpoint -tag:best", ["c_plain"]),
        ("before:2021-01-01", ["old"]),
        ("after:2021-01-01 name:old*", []),
        ("config_hash:c0ffee", ["c_best_ok", "c_plain", "log"]),
        ("kind:checkpoint run:baseline#2", ["c_best_ok", "c_plain"]),
        ("kind:error_trace task:featurize", ["t_tuning"]),
        ("kind:error_trace -project:qm9", ["t_md"]),
        ("kind:data -project:qm9", ["lig1", "lig2"]),  # no project is not project qm9
        ("scope:project", ["old"]),
        ("kind:error_trace (experiment:relax OR experiment:Tuning)", ["t_md", "t_tuning"]),
        ("kind:log OR tag:archive", ["log", "old"]),
        ("workspace:elsewhere", []),  # another workspace's name: nothing, not an error
        ("project:qm9 kind:checkpoint", ["c_best_ok", "c_best_failed", "c_plain"]),
    ],
)
def test_query_returns_exactly(api_client_for, data, query, expected):
    assets, _ = data
    assert _ids(api_client_for("viewer"), query) == _pk(assets, *expected)


def test_sha256_run_id_and_status(api_client_for, data):
    assets, runs = data
    client = api_client_for("viewer")
    assert _ids(client, f"sha256:{assets['lig1'].sha256}") == _pk(assets, "lig1")
    assert _ids(client, f"sha256:{assets['lig2'].sha256[:10]}") == _pk(assets, "lig2")
    assert _ids(client, f"run:{runs['md'].pk}") == _pk(assets, "t_md")
    assert _ids(client, "status:succeeded") == _pk(assets, "c_best_ok", "c_plain", "log")


def test_outsider_sees_only_own_rows_and_counts(api_client_for, data):
    assets, _ = data
    client = api_client_for("outsider")
    assert _ids(client, "CUDA") == _pk(assets, "t_other")
    assert _ids(client, "workspace:lab") == set()
    body = client.get("/api/assets/", {"q": "", "facets": "true"}).json()
    assert body["count"] == 2
    assert {f["value"]: f["count"] for f in body["facets"]["kind"]} == {"error_trace": 1, "checkpoint": 1}
    assert [p["count"] for p in body["facets"]["project"]] == [2]


def test_member_never_sees_other_workspace(api_client_for, data):
    assets, _ = data
    ids = _ids(api_client_for("viewer"), "CUDA")
    assert ids == _pk(assets, "t_base", "t_md")
    body = api_client_for("viewer").get("/api/assets/", {"q": "ckpt-epoch10", "facets": "1"}).json()
    assert {r["id"] for r in body["results"]} == _pk(assets, "c_best_ok")
    assert body["facets"]["kind"] == [{"value": "checkpoint", "count": 1}]


def test_facets_follow_the_query(api_client_for, data, project):
    body = api_client_for("viewer").get("/api/assets/", {"q": "kind:error_trace", "facets": "true"}).json()
    facets = body["facets"]
    assert facets["kind"] == [{"value": "error_trace", "count": 3}]
    assert {p["slug"]: p["count"] for p in facets["project"]} == {"qm9": 2, "md": 1}
    assert facets["status"] == [{"value": "failed", "count": 3}]
    assert facets["capped"] is False


def test_relevance_and_sorts(api_client_for, data):
    assets, _ = data
    client = api_client_for("viewer")
    body = client.get("/api/assets/", {"q": "CUDA"}).json()
    assert body["ranked"] is True and body["sort"] == "relevance"
    for sort, first in (("name", "c_plain"), ("oldest", "old")):
        rows = client.get("/api/assets/", {"q": "", "sort": sort}).json()["results"]
        assert rows[0]["id"] == assets[first].pk, sort
    sizes = [r["size"] for r in client.get("/api/assets/", {"sort": "size"}).json()["results"]]
    assert sizes == sorted(sizes, reverse=True)
    stamps = [r["created_at"] for r in client.get("/api/assets/", {"sort": "newest"}).json()["results"]]
    assert stamps == sorted(stamps, reverse=True)
    assert client.get("/api/assets/", {"sort": "bogus"}).status_code == 400


def test_pagination_and_capped_count(api_client_for, data, monkeypatch):
    from assets_app.search import engine

    client = api_client_for("viewer")
    first = client.get("/api/assets/", {"page_size": 3}).json()
    assert first["count"] == 10 and first["count_capped"] is False and first["next"] and first["previous"] is None
    second = client.get(first["next"]).json()
    assert not ({r["id"] for r in first["results"]} & {r["id"] for r in second["results"]})
    monkeypatch.setattr(engine, "COUNT_CAP", 5)
    capped = client.get("/api/assets/", {"page_size": 3}).json()
    assert capped["count"] == 5 and capped["count_capped"] is True


def test_ranked_pages_continue_past_the_rank_cap(api_client_for, data, monkeypatch):
    from assets_app.search import engine

    monkeypatch.setattr(engine, "RANK_CAP", 2)
    client = api_client_for("viewer")
    seen = []
    url = "/api/assets/?q=ckpt&page_size=1"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 3


@pytest.mark.parametrize(
    ("query", "position", "token"),
    [("(cuda", 0, "("), ("kind:log colour:red", 9, "colour:red"), ("a OR", 2, "OR"), ('"cuda', 0, '"cuda')],
)
def test_malformed_query_is_400_with_position(api_client_for, data, query, position, token):
    response = api_client_for("viewer").get("/api/assets/", {"q": query})
    assert response.status_code == 400
    body = response.json()
    assert body["position"] == position and body["token"] == token
    assert body["detail"].endswith(f"at position {position}: {token!r}")


def test_column_filters_still_apply_and_validate(api_client_for, data, project):
    client = api_client_for("viewer")
    assert client.get("/api/assets/", {"q": "ckpt", "project": project.pk, "kind": "checkpoint"}).json()["count"] == 3
    assert client.get("/api/assets/", {"kind": "bogus"}).status_code == 400


def test_name_fragment_substring(api_client_for, data):
    """PostgreSQL: trigram ILIKE on the name; SQLite: the FTS5 trigram table ``asset_name_trgm``."""
    assets, _ = data
    assert _ids(api_client_for("viewer"), "pt-epoch1") == _pk(assets, "c_best_ok", "c_plain")
    assert _ids(api_client_for("viewer"), "gands.cs") == _pk(assets, "lig1", "lig2")


@pytest.mark.django_db
def test_a_file_stem_finds_the_dotted_file_name(owner, ws):
    """PostgreSQL's simple parser keeps "ligands_v2.csv" whole; its parts are indexed so the stem finds it."""
    from assets_app.selectors import asset_search
    from assets_app.services import asset_create, blob_store_bytes

    asset = asset_create(kind="data", name="ligands_v2.csv", workspace=ws, blob=blob_store_bytes(b"name,smiles\n"))
    for q in ("ligands", "csv", "v2", "ligands_v2.csv"):
        rows = asset_search(user=owner, q=q).page(1, 50).rows
        assert asset.pk in [a.pk for a in rows], q
