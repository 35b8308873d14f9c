"""Catalog search at 1 M assets (SPEC §11).

- ``asset_created_id`` (created_at DESC, id DESC): ``sort=newest`` on a frequent word walks
  it and stops after a page of hits instead of sorting every hit.
- ``asset_project_id`` (project, id DESC): the newest hits inside one project (relevance
  candidates, ``sort=relevance`` without words) without visiting other projects' rows.
- SQLite: the FTS5 ``trigram`` table ``asset_name_trgm`` and its triggers (name fragments
  like ``pt-epoch1``), through the idempotent ``ensure_fts``.

Depends on 0005 only; it may be renumbered after ``0006_keyset_indexes`` when merged.
"""

from django.db import migrations, models


def forward(apps, schema_editor):
    from assets_app.search.sqlite_fts import ensure_fts

    ensure_fts(schema_editor.connection)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name in ("asset_name_trgm_ai", "asset_name_trgm_ad", "asset_name_trgm_au"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
    schema_editor.execute("DROP TABLE IF EXISTS asset_name_trgm")


class Migration(migrations.Migration):
    dependencies = [("assets_app", "0005_imported")]

    operations = [
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(fields=["-created_at", "-id"], name="asset_created_id"),
        ),
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(fields=["project", "-id"], name="asset_project_id"),
        ),
        migrations.RunPython(forward, backward),
    ]
