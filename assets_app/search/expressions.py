"""ORM expressions for the catalog's text search, safe inside subqueries.

The PostgreSQL ``search_vector`` column (migration 0002) and the SQLite
``asset_fts`` table (migration 0004) are not declared on the model, so raw SQL
would have to name the asset table, which Django re-aliases (``U0``) when a
queryset becomes a subquery. These expressions compile ``F("id")`` first and
derive the alias from it, so they stay correct wherever Django puts them.
"""

from __future__ import annotations

from django.db.models import BooleanField, Expression, F, FloatField, Lookup, QuerySet, Subquery

FTS_TABLE = "asset_fts"
NAME_TRGM_TABLE = "asset_name_trgm"


class _AliasedColumn(Expression):
    """``<alias of the asset table>.<column>`` for a column the model does not declare."""

    def __init__(self, column: str, output_field=None) -> None:
        super().__init__(output_field=output_field)
        self.column = column
        self.ref = F("id")

    def get_source_expressions(self):
        return [self.ref]

    def set_source_expressions(self, exprs):
        (self.ref,) = exprs

    def as_sql(self, compiler, connection):
        sql, params = compiler.compile(self.ref)
        suffix = connection.ops.quote_name("id")
        if not sql.endswith(suffix):  # pragma: no cover - Django always compiles a Col here
            raise ValueError(f"Unexpected column SQL {sql!r}")
        return sql[: -len(suffix)] + connection.ops.quote_name(self.column), params


class _Condition(Expression):
    """A boolean SQL template over the asset row: ``{id}``/``{col}`` are filled from the aliased table."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, template: str, params: list, column: str = "id") -> None:
        super().__init__()
        self.template = template
        self.params = list(params)
        self.col = _AliasedColumn(column)

    def get_source_expressions(self):
        return [self.col]

    def set_source_expressions(self, exprs):
        (self.col,) = exprs

    def as_sql(self, compiler, connection):
        col_sql, col_params = compiler.compile(self.col)
        return self.template.format(col=col_sql), [*col_params, *self.params]


def pg_text_match(text: str, *, phrase: bool) -> Expression:
    """PostgreSQL: the indexed ``search_vector @@ plainto_tsquery/phraseto_tsquery('simple', text)``."""
    func = "phraseto_tsquery" if phrase else "plainto_tsquery"
    return _Condition(f"{{col}} @@ {func}('simple'::regconfig, %s)", [text], column="search_vector")


def pg_text_match_all(terms: list[tuple[str, bool]]) -> Expression:
    """PostgreSQL: the AND of several terms ``(text, phrase)`` as ONE ``search_vector @@ (q1 && q2 …)``.

    The same rows as one ``@@`` per term when no term's query is empty (``&&`` drops an empty
    operand, where a separate ``@@ ''`` matches nothing): callers pass only ``mergeable`` terms.
    A row's tsvector is searched once instead of once per word (a walk or scan visiting 7 000
    rows for two common words spent a quarter of its time in the second ``@@``), and the GIN
    index meets one query whose AND it resolves itself, skipping through the longer posting list
    ("fast scan"), instead of two bitmaps built whole and ANDed."""
    parts = [("phraseto_tsquery" if phrase else "plainto_tsquery") + "('simple'::regconfig, %s)" for _, phrase in terms]
    return _Condition(f"{{col}} @@ ({' && '.join(parts)})", [text for text, _ in terms], column="search_vector")


def pg_text_check_all(terms: list[tuple[str, bool]]) -> Expression:
    """PostgreSQL: the same test as ``pg_text_match_all``, written as the function behind ``@@``
    (``ts_match_vq``), which no index answers: checked on each row the rest of the query found.
    For very common words ANDed with a rare one (``compiler._pg_words``): intersecting a word held by
    77 % of 10 M rows with a rare word's inside the GIN index took 38 ms per lookup, the rare word's
    lookup alone 10 ms, and the common word then passes on most rows it is checked on."""
    parts = [("phraseto_tsquery" if phrase else "plainto_tsquery") + "('simple'::regconfig, %s)" for _, phrase in terms]
    return _Condition(f"ts_match_vq({{col}}, ({' && '.join(parts)}))", [t for t, _ in terms], column="search_vector")


def mergeable(text: str) -> bool:
    """A term whose ``plainto_tsquery``/``phraseto_tsquery('simple', …)`` is never empty: ASCII letters
    and digits, words separated by spaces (each run of them is a token the ``simple`` dictionary keeps)."""
    words = text.split()
    return bool(words) and all(w.isascii() and w.isalnum() for w in words)


def fts5_quote(text: str) -> str:
    """An FTS5 string: a phrase of the text's tokens, each matched whole, as PostgreSQL's
    ``plainto_tsquery``/``phraseto_tsquery`` match them. (A prefix phrase, ``"w"*``, made FTS5
    merge the doclists of every token starting with the word first: 235 ms for a common word
    among the newest 65 536 ids at 1 M assets, 14 ms without; and PostgreSQL never matched prefixes.)"""
    return '"' + text.replace('"', '""') + '"'


def _floored(sql: str, floor: int | None, probe: bool = False) -> str:
    """``floor``: only rowids from there up. ``probe``: ``+id IN (…)``, so SQLite cannot drive the
    query from the list (looking up every listed row, then sorting them) and walks the order's
    index instead, probing the list (``sort=newest`` in a window: 1 s → a window's walk)."""
    sql = sql if floor is None else sql[:-1] + " AND rowid >= %s)"
    return "+" + sql if probe else sql


def sqlite_text_match(text: str, floor: int | None = None, probe: bool = False) -> Expression:
    """SQLite: ``id IN (SELECT rowid FROM asset_fts WHERE asset_fts MATCH '"text"')``; with ``floor``
    only rowids from there up (FTS5 seeks its doclists to it: a recency window's hits, not all)."""
    return sqlite_fts_match(fts5_quote(text), floor, probe)


def sqlite_fts_match(match: str, floor: int | None = None, probe: bool = False) -> Expression:
    """SQLite: ``id IN (SELECT rowid FROM asset_fts WHERE asset_fts MATCH <match>)`` for an FTS5
    query string (``"a" AND "b"``: FTS5 intersects the doclists itself, seeking the longer one)."""
    params = [match] + ([] if floor is None else [floor])
    return _Condition(_floored("{col} IN (SELECT rowid FROM asset_fts WHERE asset_fts MATCH %s)", floor, probe), params)


def sqlite_name_substring(text: str, floor: int | None = None, probe: bool = False) -> Expression:
    """SQLite: names containing ``text`` (3+ characters), through the FTS5 trigram index
    ``asset_name_trgm``: PostgreSQL's trigram ``name ILIKE '%text%'`` (``floor`` as above)."""
    params = [fts5_quote(text)] + ([] if floor is None else [floor])
    return _Condition(
        _floored("{col} IN (SELECT rowid FROM asset_name_trgm WHERE asset_name_trgm MATCH %s)", floor, probe), params
    )


class IdInArray(Expression):
    """PostgreSQL ``id = ANY(ARRAY(<subquery of ids>))``: the subquery runs once (an InitPlan) and
    the primary key answers the rest, whatever the joins around it. ``id IN (<subquery>)`` is a
    semi-join, and past ``join_collapse_limit`` (8) joined tables PostgreSQL keeps the written
    join order: the catalog row shape joins 9 tables, so the ranked page joined all 1 M assets
    before meeting its ≤ 200 candidates (7–9 s a page at full scale)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, queryset: QuerySet) -> None:
        super().__init__()
        self.ref = F("id")
        self.subquery = Subquery(queryset)

    def get_source_expressions(self):
        return [self.ref, self.subquery]

    def set_source_expressions(self, exprs):
        self.ref, self.subquery = exprs

    def as_sql(self, compiler, connection):
        col_sql, col_params = compiler.compile(self.ref)
        sub_sql, sub_params = compiler.compile(self.subquery)
        return f"{col_sql} = ANY(ARRAY{sub_sql})", [*col_params, *sub_params]


def id_in(ids: list[int]) -> Expression:
    """PostgreSQL ``id = ANY(%s::bigint[])``: ids already chosen (one array parameter, whatever their number)."""
    return _Condition("{col} = ANY(%s::bigint[])", [list(ids)])


class _Rank(Expression):
    output_field = FloatField()

    def __init__(self, template: str, params: list, column: str) -> None:
        super().__init__()
        self.template = template
        self.params = list(params)
        self.col = _AliasedColumn(column)

    def get_source_expressions(self):
        return [self.col]

    def set_source_expressions(self, exprs):
        (self.col,) = exprs

    def as_sql(self, compiler, connection):
        col_sql, col_params = compiler.compile(self.col)
        return self.template.format(col=col_sql), [*col_params, *self.params]


def text_rank(terms: list[tuple[str, bool]], *, vendor: str) -> Expression:
    """A relevance score (higher is better) of the row for the positive free terms ``(text, phrase)``."""
    if vendor == "postgresql":
        parts, params = [], []
        for text, phrase in terms:
            parts.append(("phraseto_tsquery" if phrase else "plainto_tsquery") + "('simple'::regconfig, %s)")
            params.append(text)
        return _Rank(f"ts_rank({{col}}, {' || '.join(parts)})", params, "search_vector")
    match = " OR ".join(fts5_quote(text) for text, _ in terms)
    return _Rank("-(SELECT bm25(asset_fts) FROM asset_fts WHERE asset_fts MATCH %s AND rowid = {col})", [match], "id")


class ILike(Lookup):
    """Case-insensitive ``LIKE`` with ``\\`` as escape: ``ILIKE`` on PostgreSQL (trigram-indexed on
    the name), ``LIKE`` on SQLite (case-insensitive for ASCII). Used as an expression:
    ``ILike(F("name"), pattern)``."""

    lookup_name = "molexp_ilike"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        op = "ILIKE" if connection.vendor == "postgresql" else "LIKE"
        return f"{lhs} {op} {rhs} ESCAPE '\\'", [*lhs_params, *rhs_params]


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def glob_to_like(glob: str) -> str:
    """``*`` → ``%``, ``?`` → ``_``; everything else literal."""
    return "".join("%" if ch == "*" else "_" if ch == "?" else like_escape(ch) for ch in glob)
