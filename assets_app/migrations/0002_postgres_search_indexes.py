"""PostgreSQL-only catalog indexes: a stored tsvector over ``search_text`` with a
GIN index, and trigram GIN indexes on the name and the search text for substring
search. On SQLite this migration does nothing (the catalog uses its fallback)."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "ALTER TABLE assets_app_asset ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, coalesce(name, '') || ' ' || coalesce(search_text, ''))) STORED",
    "CREATE INDEX IF NOT EXISTS asset_search_vector_gin ON assets_app_asset USING gin (search_vector)",
    "CREATE INDEX IF NOT EXISTS asset_name_trgm ON assets_app_asset USING gin (name gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS asset_name_trgm",
    "DROP INDEX IF EXISTS asset_search_vector_gin",
    "ALTER TABLE assets_app_asset DROP COLUMN IF EXISTS search_vector",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("assets_app", "0001_initial")]
    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
