"""Compile a parsed catalog query into a Django ``Q`` (the same tree on PostgreSQL and SQLite).

Free words and phrases become a full-text condition (see ``expressions``):

- PostgreSQL: the GIN-indexed ``search_vector @@ plainto_tsquery('simple', w)``
  (``phraseto_tsquery`` for a phrase), OR ``name ILIKE '%w%'`` through the
  trigram index for name fragments: terms of 3+ characters holding punctuation
  (``ligands.cs``, ``epoch-1``), which the tsvector splits differently. Plain words
  are matched by the tsvector alone (it includes the name): adding the OR to every
  word tripled mid-frequency latency in the 200k-row measurement. The plain words and phrases
  ANDed at one level are one tsquery (``search_vector @@ (q1 && q2)``): each row's tsvector is
  searched once, and GIN resolves the AND itself.
- SQLite: the FTS5 table ``asset_fts`` kept in sync by triggers (migration
  0004), each term a quoted FTS5 phrase of whole tokens (as PostgreSQL)
  (``"w"``), OR for name fragments (same rule) a substring match on the name through the
  FTS5 ``trigram`` table ``asset_name_trgm`` (a ``LIKE`` would scan the table).

Filters become column conditions; workspace/project/experiment/run references
are resolved by subqueries on slug, name (case-insensitive) or numeric id. The
caller scopes the queryset to the user first; a reference to another
workspace's project can only narrow the user's own rows.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time

from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from runs_app.models import Experiment, Project, Run, Workspace

from ..models import AssetAlias
from .expressions import (
    ILike,
    fts5_quote,
    glob_to_like,
    like_escape,
    mergeable,
    pg_text_check_all,
    pg_text_match,
    pg_text_match_all,
    sqlite_fts_match,
    sqlite_name_substring,
    sqlite_text_match,
)
from .parser import And, Filter, Node, Not, Or, Term, parse_date_value
from .term_stats import term_share, term_shares

_ID_MAX = 2**63 - 1


def _as_id(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) <= 19 and int(value) <= _ID_MAX else None


def _ref_ids(model, value: str):
    cond = Q(slug__iexact=value) | Q(name__iexact=value)
    pk = _as_id(value)
    if pk is not None:
        cond |= Q(pk=pk)
    return model.objects.filter(cond).values("id")


def _run_ids(value: str):
    pk = _as_id(value)
    if pk is not None:
        return None, pk
    slug, _, number = value.rpartition("#")
    return Run.objects.filter(experiment__slug__iexact=slug, number=int(number)).values("id"), None


def _moment(value: str) -> datetime:
    parsed = parse_date_value(value)
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed if isinstance(parsed, date) else parsed.date(), time.min)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def is_name_fragment(text: str) -> bool:
    """A term also matched as a substring of names: 3+ characters holding punctuation."""
    return len(text) >= 3 and not text.replace(" ", "").isalnum()


def _term(term: Term, vendor: str, floor: int | None = None, probe: bool = False) -> Q:
    text = term.text.strip()
    fragment = is_name_fragment(text)
    if vendor == "postgresql":
        q = Q(pg_text_match(text, phrase=term.phrase))
        if fragment:
            q |= Q(ILike(F("name"), f"%{like_escape(text)}%"))
        return q
    q = Q(sqlite_text_match(text, floor, probe))
    if fragment:
        q |= Q(sqlite_name_substring(text, floor, probe))
    return q


def _filter(node: Filter, vendor: str) -> Q:
    key, value = node.key, node.value.strip()
    low = value.lower()
    if key in ("kind", "scope"):
        return Q(**{key: low})
    if key == "status":
        return Q(producer_run__status=low)
    if key == "workspace":
        return Q(workspace_id__in=_ref_ids(Workspace, value))
    if key == "project":
        return Q(project_id__in=_ref_ids(Project, value))
    if key == "experiment":
        return Q(experiment_id__in=_ref_ids(Experiment, value))
    if key == "run":
        subquery, pk = _run_ids(value)
        if pk is not None:
            return Q(run_id=pk) | Q(producer_run_id=pk)
        return Q(run_id__in=subquery) | Q(producer_run_id__in=subquery)
    if key == "task":
        return Q(producer_task=value)
    if key == "tag":
        if connection.features.supports_json_field_contains:
            return Q(tags__contains=[value])
        return Q(tags__icontains=json.dumps(value))
    if key == "name":
        return Q(ILike(F("name"), glob_to_like(value)))
    if key == "sha256":
        return Q(sha256=low) if len(low) == 64 else Q(sha256__startswith=low)
    if key == "version":
        return Q(version=int(value))
    if key == "after":
        return Q(created_at__gte=_moment(value))
    if key == "before":
        return Q(created_at__lt=_moment(value))
    if key == "alias":  # SPEC §14: the version an alias points at
        return Q(pk__in=AssetAlias.objects.filter(alias=value).values("asset_id"))
    if key == "config_hash":
        return Q(producer_run__config_hash__startswith=low)
    raise ValueError(f"unknown key {key!r}")  # pragma: no cover - the parser refuses unknown keys


#: A word held by at least this share of the assets is "very common" (``_pg_words``) ...
COMMON_SHARE = 0.5
#: ... and is checked on the rows found by the other words when each of those is held by less than this.
SELECTIVE_SHARE = 0.05


def _pg_words(words: list[Term]) -> Q:
    """The AND of mergeable words and phrases as one tsquery (``pg_text_match_all``): each row's
    tsvector searched once, the AND resolved by the GIN index.

    Except for very common words (single words in at least ``COMMON_SHARE`` of the rows, per
    ``term_stats``) ANDed with selective ones (every other word under ``SELECTIVE_SHARE``): the GIN
    lookup takes the selective words only, and the common ones are checked on the rows it found
    (``pg_text_check_all``). The same rows either way. At 10 M assets a word in 77 % of them ANDed
    with one in 0.7 % cost 38 ms per GIN lookup against 10 ms for the rarer word alone, and a search
    makes two lookups (the page's candidates, the capped count)."""
    terms = [(w.text.strip(), w.phrase) for w in words]
    if term_shares():
        share = {t: term_share(t[0]) for t in terms}
        common = [t for t in terms if len(t[0].split()) == 1 and share[t] >= COMMON_SHARE]
        rest = [t for t in terms if t not in common]
        if common and rest and all(share[t] < SELECTIVE_SHARE for t in rest):
            return Q(pg_text_match_all(rest)) & Q(pg_text_check_all(common))
    return Q(pg_text_match_all(terms))


def compile_query(
    node: Node | None, *, vendor: str | None = None, fts_floor: int | None = None, fts_probe: bool = False
) -> Q:
    """The ``Q`` of a parsed query (an empty ``Q`` for an empty query).

    ``fts_floor`` (SQLite): every FTS5 subquery lists only rowids ``>= fts_floor``. Exact for the
    rows with ``id >= fts_floor`` whatever the boolean structure (``NOT`` included), so only for a
    queryset already restricted to such rows (the engine's recency windows). ``fts_probe``:
    ``+id IN (…)``, the lists only probed (a window walked in the order's index)."""
    vendor = vendor or connection.vendor
    if node is None:
        return Q()
    if isinstance(node, Term):
        return _term(node, vendor, fts_floor, fts_probe)
    if isinstance(node, Filter):
        return _filter(node, vendor)
    if isinstance(node, Not):
        return ~compile_query(node.child, vendor=vendor, fts_floor=fts_floor, fts_probe=fts_probe)
    if isinstance(node, And):
        q, children = Q(), node.children
        if vendor == "postgresql":
            # PostgreSQL: the plain words and phrases of an AND in ONE tsquery (``_pg_words``)
            words = [c for c in children if isinstance(c, Term) and mergeable(c.text.strip())]
            if len(words) > 1:
                q &= _pg_words(words)
                children = [c for c in children if c not in words]
        else:
            # SQLite: the plain words of an AND in ONE FTS5 query ("a" AND "b"): FTS5 intersects
            # the doclists; as separate IN lists SQLite drove from one word's list (perhaps the
            # common one: 50 000 lookups) and probed the other (common + mid word at 1 M: 0.5 s).
            words = [c for c in children if isinstance(c, Term) and not is_name_fragment(c.text.strip())]
            if len(words) > 1:
                q &= Q(sqlite_fts_match(" AND ".join(fts5_quote(w.text.strip()) for w in words), fts_floor, fts_probe))
                children = [c for c in children if c not in words]
        for child in children:
            q &= compile_query(child, vendor=vendor, fts_floor=fts_floor, fts_probe=fts_probe)
        return q
    if isinstance(node, Or):
        q = compile_query(node.children[0], vendor=vendor, fts_floor=fts_floor, fts_probe=fts_probe)
        for child in node.children[1:]:
            q |= compile_query(child, vendor=vendor, fts_floor=fts_floor, fts_probe=fts_probe)
        return q
    raise TypeError(node)  # pragma: no cover
