"""SQLite-only catalog index: an FTS5 table over name + search_text with sync triggers
(``assets_app.search.sqlite_fts``). On PostgreSQL this does nothing: migration 0002's
tsvector/GIN and trigram indexes serve the search."""

from django.db import migrations


def forward(apps, schema_editor):
    from assets_app.search.sqlite_fts import ensure_fts

    ensure_fts(schema_editor.connection)


def backward(apps, schema_editor):
    from assets_app.search.sqlite_fts import drop_fts

    drop_fts(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("assets_app", "0003_upload")]
    operations = [migrations.RunPython(forward, backward)]
