"""Catalog search at 1 M assets (SPEC §11).

- ``asset_created_id`` (created_at DESC, id DESC; added by 0006 for keyset browsing):
  ``sort=newest`` on a frequent word walks it and stops after a page of hits.
- ``asset_project_id`` (project, id DESC): the newest hits inside one project (relevance
  candidates, ``sort=relevance`` without words) without visiting other projects' rows.
- PostgreSQL: BRIN indexes on ``id`` and ``created_at`` (tiny; rows arrive in id and time
  order): the recency windows of ``assets_app.search.engine`` AND them with the text GIN, so
  a window visits the heap only for its own hits.
- SQLite: the FTS5 ``trigram`` table ``asset_name_trgm`` and its triggers (name fragments
  like ``pt-epoch1``), through the idempotent ``ensure_fts``.

"""

from django.db import migrations, models


BRIN = [
    "CREATE INDEX IF NOT EXISTS asset_id_brin ON assets_app_asset USING brin (id) WITH (pages_per_range = 8)",
    "CREATE INDEX IF NOT EXISTS asset_created_brin ON assets_app_asset USING brin (created_at) WITH (pages_per_range = 8)",
]


def forward(apps, schema_editor):
    from assets_app.search.sqlite_fts import ensure_fts

    if schema_editor.connection.vendor == "postgresql":
        for sql in BRIN:
            schema_editor.execute(sql)
    ensure_fts(schema_editor.connection)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS asset_created_brin")
        schema_editor.execute("DROP INDEX IF EXISTS asset_id_brin")
        return
    if schema_editor.connection.vendor != "sqlite":
        return
    for name in ("asset_name_trgm_ai", "asset_name_trgm_ad", "asset_name_trgm_au"):
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")
    schema_editor.execute("DROP TABLE IF EXISTS asset_name_trgm")


class Migration(migrations.Migration):
    dependencies = [("assets_app", "0006_keyset_indexes")]

    operations = [
        migrations.AddIndex(
            model_name="asset",
            index=models.Index(fields=["project", "-id"], name="asset_project_id"),
        ),
        migrations.RunPython(forward, backward),
    ]
