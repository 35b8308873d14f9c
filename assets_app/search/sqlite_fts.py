"""The SQLite fallback index: an FTS5 table over (name, search_text) kept in sync by triggers.

External-content FTS5 (``content='assets_app_asset'``): the index stores only
tokens; three triggers mirror every insert, delete and update of ``name`` or
``search_text``. Django rebuilds a SQLite table (dropping its triggers) for
some schema changes, so ``ensure_fts`` is idempotent and runs after every
``migrate`` (``post_migrate``, connected in ``assets_app.apps``): it recreates
missing triggers and then rebuilds the index from the table.
"""

from __future__ import annotations

from .expressions import FTS_TABLE

TABLE = "assets_app_asset"
TRIGGERS = {
    "asset_fts_ai": """CREATE TRIGGER IF NOT EXISTS asset_fts_ai AFTER INSERT ON assets_app_asset BEGIN
  INSERT INTO asset_fts(rowid, name, search_text) VALUES (new.id, new.name, new.search_text);
END""",
    "asset_fts_ad": """CREATE TRIGGER IF NOT EXISTS asset_fts_ad AFTER DELETE ON assets_app_asset BEGIN
  INSERT INTO asset_fts(asset_fts, rowid, name, search_text) VALUES ('delete', old.id, old.name, old.search_text);
END""",
    "asset_fts_au": """CREATE TRIGGER IF NOT EXISTS asset_fts_au AFTER UPDATE OF name, search_text ON assets_app_asset BEGIN
  INSERT INTO asset_fts(asset_fts, rowid, name, search_text) VALUES ('delete', old.id, old.name, old.search_text);
  INSERT INTO asset_fts(rowid, name, search_text) VALUES (new.id, new.name, new.search_text);
END""",
}
CREATE_TABLE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS asset_fts USING fts5(name, search_text, "
    "content='assets_app_asset', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
)


def ensure_fts(connection) -> bool:
    """Create the FTS table and triggers where missing (SQLite only); True when it had to (re)build."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s", [TABLE])
        if cursor.fetchone() is None:
            return False
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE 'asset_fts%%'")
        present = {row[0] for row in cursor.fetchall()}
        missing = [name for name in TRIGGERS if name not in present]
        if FTS_TABLE in present and not missing:
            return False
        cursor.execute(CREATE_TABLE)
        for name in missing:
            cursor.execute(TRIGGERS[name])
        cursor.execute("INSERT INTO asset_fts(asset_fts) VALUES ('rebuild')")
    return True


def drop_fts(connection) -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute("DROP TABLE IF EXISTS asset_fts")


def post_migrate_ensure_fts(sender, using="default", **kwargs) -> None:
    from django.db import connections

    ensure_fts(connections[using])
