"""The SQLite fallback indexes: FTS5 tables over the asset table kept in sync by triggers.

- ``asset_fts`` (``unicode61``): words of ``name`` and ``search_text`` for free-word search.
- ``asset_name_trgm`` (``trigram``): the ``name`` alone, for substring matches of name
  fragments with punctuation (``pt-epoch1``, ``gands.cs``), PostgreSQL's trigram ``ILIKE``
  on SQLite. A quoted phrase of 3+ characters MATCHes every name containing it (case-insensitive).

Both are external-content (``content='assets_app_asset'``): they store only tokens; triggers
mirror every insert, delete and update of the indexed columns. Django rebuilds a SQLite
table (dropping its triggers) for some schema changes, so ``ensure_fts`` is idempotent and
runs after every ``migrate`` (``post_migrate``, connected in ``assets_app.apps``): it
recreates missing tables and triggers and then rebuilds the indexes from the table.
"""

from __future__ import annotations

from .expressions import FTS_TABLE, NAME_TRGM_TABLE

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
    "asset_name_trgm_ai": """CREATE TRIGGER IF NOT EXISTS asset_name_trgm_ai AFTER INSERT ON assets_app_asset BEGIN
  INSERT INTO asset_name_trgm(rowid, name) VALUES (new.id, new.name);
END""",
    "asset_name_trgm_ad": """CREATE TRIGGER IF NOT EXISTS asset_name_trgm_ad AFTER DELETE ON assets_app_asset BEGIN
  INSERT INTO asset_name_trgm(asset_name_trgm, rowid, name) VALUES ('delete', old.id, old.name);
END""",
    "asset_name_trgm_au": """CREATE TRIGGER IF NOT EXISTS asset_name_trgm_au AFTER UPDATE OF name ON assets_app_asset BEGIN
  INSERT INTO asset_name_trgm(asset_name_trgm, rowid, name) VALUES ('delete', old.id, old.name);
  INSERT INTO asset_name_trgm(rowid, name) VALUES (new.id, new.name);
END""",
}
TABLES = {
    FTS_TABLE: (
        "CREATE VIRTUAL TABLE IF NOT EXISTS asset_fts USING fts5(name, search_text, "
        "content='assets_app_asset', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    ),
    NAME_TRGM_TABLE: (
        "CREATE VIRTUAL TABLE IF NOT EXISTS asset_name_trgm USING fts5(name, "
        "content='assets_app_asset', content_rowid='id', tokenize='trigram')"
    ),
}


def ensure_fts(connection) -> bool:
    """Create the FTS tables and triggers where missing (SQLite only); True when it had to (re)build."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = %s", [TABLE])
        if cursor.fetchone() is None:
            return False
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') "
            "AND (name LIKE 'asset_fts%%' OR name LIKE 'asset_name_trgm%%')"
        )
        present = {row[0] for row in cursor.fetchall()}
        missing = [name for name in TRIGGERS if name not in present]
        missing_tables = [name for name in TABLES if name not in present]
        if not missing and not missing_tables:
            return False
        for name in TABLES:
            cursor.execute(TABLES[name])
        for name in missing:
            cursor.execute(TRIGGERS[name])
        for name in TABLES:
            cursor.execute(f"INSERT INTO {name}({name}) VALUES ('rebuild')")  # noqa: S608 - fixed names
    return True


def drop_fts(connection) -> None:
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        for name in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")


def post_migrate_ensure_fts(sender, using="default", **kwargs) -> None:
    from django.db import connections

    ensure_fts(connections[using])
