"""PostgreSQL array parameters quoted without a regex template (psycopg 3.3.9, ``requirements.txt``).

Django 5.2 inserts many rows at once as ``INSERT … SELECT * FROM UNNEST(%s::type[], …)``: one array
parameter per column. A 1 000-run sweep sends some twenty arrays of 1 000 elements, most of them
JSON (params, config, profile, overrides, the workflow snapshot) and messages. psycopg's text
``ListDumper`` quotes an element that needs it with ``re.sub(rb"\\\\\\1", element)``, and ``re``
expands that template in Python for every quote and backslash matched: about a sixth of a sweep's
launch CPU went there (``docs/performance.md``). ``ListDumper`` below writes the same bytes with
two ``bytes.replace`` calls.

It is registered through psycopg's public adapter API on each new Django connection
(``register``, connected in ``runs_app.apps``). The one thing it relies on is the class attribute
``ListDumper._re_esc`` being what ``ListDumper._dump_list`` escapes with;
``tests/test_pg_arrays.py`` checks that and that the bytes match psycopg's own dumper's, so an
upgrade of psycopg that changes either fails there, not in production.
"""

from __future__ import annotations

from psycopg.types.array import ListDumper as _PsycopgListDumper

__all__ = ["ListDumper", "register"]


class _BackslashEscape:
    """Stands in for ``re.compile(rb'(["\\\\])')`` in ``ListDumper._dump_list``'s one call,
    ``_re_esc.sub(rb"\\\\\\1", element)``: a backslash before each double quote and backslash."""

    @staticmethod
    def sub(_template: bytes, element) -> bytes:
        return bytes(element).replace(b"\\", b"\\\\").replace(b'"', b'\\"')


class ListDumper(_PsycopgListDumper):
    """psycopg's text-format list dumper, its element escaping done by ``bytes.replace``."""

    _re_esc = _BackslashEscape()


def register(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: on PostgreSQL, dump Python lists with ``ListDumper``."""
    if connection.vendor == "postgresql":
        connection.connection.adapters.register_dumper(list, ListDumper)
