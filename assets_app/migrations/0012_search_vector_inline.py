"""Keep the catalog's tsvector in the heap row (PostgreSQL ``STORAGE MAIN``).

Under the default ``EXTENDED`` storage, an error trace's or a log's row (about 2.2 kB: the
traceback, the indexed text and their tsvector) passed the 2 kB TOAST threshold and PostgreSQL
moved the tsvector out of line: every ``search_vector @@ query`` check of such a row then read the
TOAST index and table, three more buffers a row. ``kind:error_trace status:failed`` + a common word
at 100 000 assets counted its 1 001 hits reading 3 631 buffers instead of 937 (bench database,
issue 17). With ``MAIN`` the long text columns (``traceback``, ``search_text``…) are moved out
first and the tsvector stays in the row; only a row that still cannot fit a page moves it out.

Rows already stored keep their layout until rewritten (``VACUUM FULL assets_app_asset`` or any
rewrite); rows written after this migration get the new one. No-op on SQLite.
"""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE assets_app_asset ALTER COLUMN search_vector SET STORAGE MAIN")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE assets_app_asset ALTER COLUMN search_vector SET STORAGE EXTENDED")


class Migration(migrations.Migration):
    dependencies = [("assets_app", "0011_trash")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
