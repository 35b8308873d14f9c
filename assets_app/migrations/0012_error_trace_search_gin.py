"""PostgreSQL: a text GIN index over error traces only (``WHERE kind = 'error_trace'``).

Searching error traces for a word (``kind:error_trace status:failed <word>``, the traces page's
query) met the whole table's GIN: for a word in 77 % of the assets PostgreSQL built a bitmap of
77 000 rows (100 000 assets) to AND it with the 10 000 error traces, and the capped count spent
most of its 12 ms there. Over error traces alone the same word lists 7 700 rows: the count took
2.4× less time on the bench database (docs/performance.md, session 27). Error traces are a tenth
of the assets, so the index costs a tenth of the main GIN; other kinds never write to it.
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS asset_trace_search_gin ON assets_app_asset "
    "USING gin (search_vector) WHERE kind = 'error_trace'"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS asset_trace_search_gin")


class Migration(migrations.Migration):
    dependencies = [("assets_app", "0011_trash")]

    operations = [migrations.RunPython(forward, backward)]
