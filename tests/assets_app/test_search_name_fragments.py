"""Name fragments with punctuation (``pt-epoch1``) match as substrings of names on both
databases; on SQLite the FTS5 trigram table follows inserts, renames and deletes and is
rebuilt by ``ensure_fts`` when its triggers are missing."""

from __future__ import annotations

import pytest
from django.db import connection

from assets_app.models import Asset
from assets_app.selectors import asset_search
from tests import factories as f

pytestmark = pytest.mark.django_db


def _names(user, q):
    return sorted(a.name for a in asset_search(user=user, q=q).page(1, 50).rows)


def test_fragments_follow_insert_rename_delete(owner, ws):
    a = f.AssetFactory(workspace=ws, name="model-gnn-epoch12.pt")
    f.AssetFactory(workspace=ws, name="model-mlp-epoch3.pt")
    assert _names(owner, "gnn-epoch1") == ["model-gnn-epoch12.pt"]
    assert _names(owner, "DEL-") == ["model-gnn-epoch12.pt", "model-mlp-epoch3.pt"]  # case-insensitive
    assert _names(owner, "cnn-epoch") == []
    Asset.objects.filter(pk=a.pk).update(name="model-cnn-epoch12.pt")
    assert _names(owner, "gnn-epoch1") == []
    assert _names(owner, "cnn-epoch") == ["model-cnn-epoch12.pt"]
    Asset.objects.filter(pk=a.pk).delete()
    assert _names(owner, "cnn-epoch") == []


def test_fragment_terms_keep_boolean_semantics(owner, ws):
    f.AssetFactory(workspace=ws, name="ligands_a.csv", search_text="ligands_a.csv ligands a csv")
    f.AssetFactory(workspace=ws, name="ligands_b.sdf", search_text="ligands_b.sdf ligands b sdf")
    assert _names(owner, "gands_a.cs OR nds_b.s") == ["ligands_a.csv", "ligands_b.sdf"]
    assert _names(owner, "ligands -gands_a.cs") == ["ligands_b.sdf"]
    assert _names(owner, '"ds_b.sd"') == ["ligands_b.sdf"]


def test_ensure_fts_restores_the_trigram_index(owner, ws):
    if connection.vendor != "sqlite":
        pytest.skip("the FTS5 trigram table is the SQLite fallback")
    from assets_app.search.sqlite_fts import ensure_fts

    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER asset_name_trgm_ai")
    f.AssetFactory(workspace=ws, name="run-0042-final.pt")  # inserted while the trigger is missing
    assert ensure_fts(connection) is True  # recreated the trigger, rebuilt the index
    assert _names(owner, "0042-fin") == ["run-0042-final.pt"]
    assert ensure_fts(connection) is False
