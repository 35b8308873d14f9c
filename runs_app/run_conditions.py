"""The run-condition language (SPEC §15), one parser for the pages and the API.

A condition is one of
- ``config.<dotted>``, ``params.<dotted>``, ``results.<key>``, ``metrics.<key>`` (the run's latest
  value: highest step, then latest point) followed by ``= != < <= > >=`` and a value. The value is
  read as JSON when it parses as a number, ``true``/``false``/``null`` or a quoted string, else as a
  bare string. ``< <= > >=`` compare numbers, or strings when the string is quoted
  (``config.model>"b"``); ``metrics.`` compares numbers only;
- ``status:<status>`` (one of ``RunStatus``);
- ``fingerprint:<hex>`` (the whole fingerprint, or a prefix of at least 6 hex digits);
- ``tag:<tag>`` (the run carries that tag, SPEC §14; exact match).

A sort is ``[-]<column>``: ``config.<dotted>``, ``params.<dotted>``,
``results.<key>``, ``metrics.<key>`` or one of ``SORT_COLUMNS``; NULLs (a run without the key) last.

Invariants: parsing raises ``ValidationError`` naming the bad condition (the API's 400, a form error
that shows no rows on the pages) and never touches the database; applying conditions only narrows
a queryset that a selector has already scoped to the user.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.db.models.fields.json import KeyTransform

from .choices import RunStatus
from .models import Metric
from .models_lifecycle import run_tag_q

#: A run tag (SPEC §14); the one definition, also used by ``services.run_notes``.
TAG_RE = re.compile(r"^[\w.:/+-]{1,64}$")


#: ``key<op>value``: a dot path of keys, an operator, a JSON scalar or a bare string.
_CONDITION = re.compile(r"^\s*([^<>=!\s:]+)\s*(<=|>=|!=|=|<|>)\s*(.*?)\s*$")
_LOOKUPS = {"=": "", "!=": "", "<": "__lt", "<=": "__lte", ">": "__gt", ">=": "__gte"}
_HEX = frozenset("0123456789abcdef")
#: The JSON columns of a run a condition or sort may name, by prefix.
JSON_SOURCES = {"config": "config", "params": "params", "results": "results"}
#: Plain columns a sort may name (beside the JSON keys and metrics).
SORT_COLUMNS = ("number", "status", "profile", "config_hash", "fingerprint", "created_at", "started_at", "finished_at")
MAX_CONDITIONS = 10
MAX_PATH = 200
SYNTAX = (
    "use config.<key>, params.<key>, results.<key> or metrics.<key> with one of = != < <= > >= and a value "
    "(e.g. config.lr>=0.001), or status:<status>, fingerprint:<hex>, tag:<tag>"
)


@dataclass(frozen=True)
class Condition:
    """One parsed condition: ``source`` is config/params/results/metrics/status/fingerprint."""

    source: str
    path: tuple[str, ...] = ()
    op: str = "="
    value: Any = None


def _path(raw: str, text: str) -> tuple[str, ...]:
    parts = tuple(text.split("."))
    if not text or len(text) > MAX_PATH or any(not part for part in parts):
        raise ValidationError(f"{raw!r}: {text!r} is not a key (a dot path of names).")
    return parts


def _value(raw: str, op: str, text: str, *, numeric: bool) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, dict | list):
        value = text
    quoted = text.startswith('"') and isinstance(value, str)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if op in ("<", "<=", ">", ">=") or numeric:
        if not is_number and (numeric or not quoted):
            raise ValidationError(
                f"{raw!r}: {op} compares numbers (or quoted strings); {text!r} is not a number."
                if not numeric
                else f"{raw!r}: metrics compare numbers; {text!r} is not a number."
            )
    if isinstance(value, float) and value != value:  # NaN never compares
        raise ValidationError(f"{raw!r}: NaN is not a comparable value.")
    return value


def condition_parse(raw: str) -> Condition:
    """One condition from its text; ``ValidationError`` naming it if malformed."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError(f"An empty condition: {SYNTAX}.")
    text = raw.strip()
    if len(text) > 1000:
        raise ValidationError("A condition is at most 1000 characters.")
    head, colon, rest = text.partition(":")
    if colon and head in ("status", "fingerprint", "tag"):
        rest = rest.strip()
        if head == "status":
            if rest not in RunStatus.values:
                raise ValidationError(f"{raw!r}: the status is one of {', '.join(RunStatus.values)}.")
            return Condition("status", value=rest)
        if head == "fingerprint":
            rest = rest.lower()
            if not (6 <= len(rest) <= 64 and set(rest) <= _HEX):
                raise ValidationError(f"{raw!r}: a fingerprint is 6 to 64 hex digits.")
            return Condition("fingerprint", value=rest)
        if not TAG_RE.match(rest):
            raise ValidationError(f"{raw!r}: a tag is 1–64 letters, digits or . _ - : / +.")
        return Condition("tag", value=rest)
    match = _CONDITION.match(text)
    if not match or not match[3]:
        raise ValidationError(f"{raw!r} is not a condition: {SYNTAX}.")
    key, op, value_text = match[1], match[2], match[3]
    source, dot, path_text = key.partition(".")
    if source not in (*JSON_SOURCES, "metrics") or not dot:
        raise ValidationError(f"{raw!r}: {key!r} is not a condition key: {SYNTAX}.")
    path = _path(raw, path_text)
    return Condition(source, path, op, _value(raw, op, value_text, numeric=source == "metrics"))


def conditions_parse(values: list[str] | str | None, *, prefix: str = "") -> list[Condition]:
    """Repeated conditions (all must hold). ``prefix`` (``params.``) reads the legacy ``param=`` filters."""
    if not values:
        return []
    values = [values] if isinstance(values, str) else [v for v in values if v not in (None, "")]
    if len(values) > MAX_CONDITIONS:
        raise ValidationError(f"At most {MAX_CONDITIONS} conditions.")
    conditions = []
    for raw in values:
        if prefix:
            match = _CONDITION.match(raw)
            if not match:
                raise ValidationError(
                    f"{raw!r} is not a condition: use key<op>value with op one of = != < <= > >= "
                    "(e.g. optimizer.lr>=0.001)."
                )
            raw = prefix + raw.strip()
        conditions.append(condition_parse(raw))
    return conditions


def _json_expression(column: str, path: tuple[str, ...]):
    # Key transforms built explicitly: a key named like a lookup ("lt", "isnull") stays a key.
    expression: Any = column
    for key in path:
        expression = KeyTransform(key, expression)
    return expression


def metric_latest_expression(key: str) -> Subquery:
    """The latest value of metric ``key`` of the outer run (highest step, then latest point)."""
    last = (
        Metric.objects.filter(run=OuterRef("pk"), key=key)
        .order_by(F("step").desc(nulls_last=True), "-id")
        .values("value")[:1]
    )
    return Subquery(last)


def _expression(source: str, path: tuple[str, ...]):
    if source == "metrics":
        return metric_latest_expression(".".join(path))
    return _json_expression(JSON_SOURCES[source], path)


def conditions_apply(qs: QuerySet, conditions: list[Condition]) -> QuerySet:
    """``qs`` narrowed to the runs for which every condition holds."""
    for index, cond in enumerate(conditions):
        if cond.source == "status":
            qs = qs.filter(status=cond.value)
        elif cond.source == "tag":
            qs = qs.filter(run_tag_q(cond.value, db=qs.db))
        elif cond.source == "fingerprint":
            qs = (
                qs.filter(fingerprint=cond.value)
                if len(cond.value) == 64
                else qs.filter(fingerprint__startswith=cond.value)
            )
        else:
            alias = f"_cond_{cond.source}_{index}"
            qs = qs.alias(**{alias: _expression(cond.source, cond.path)})
            lookup = alias + _LOOKUPS[cond.op]
            qs = qs.exclude(**{lookup: cond.value}) if cond.op == "!=" else qs.filter(**{lookup: cond.value})
    return qs


@dataclass(frozen=True)
class Sort:
    column: str  # as written, without the "-"
    descending: bool
    source: str  # config/params/results/metrics or "column"
    path: tuple[str, ...]

    @property
    def text(self) -> str:
        return ("-" if self.descending else "") + self.column


def sort_parse(raw: str | None) -> Sort | None:
    """``[-]<column>``; None for no sort; ``ValidationError`` for a column that does not exist."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    descending = text.startswith("-")
    column = text.lstrip("-")
    if column in SORT_COLUMNS:
        return Sort(column, descending, "column", (column,))
    source, dot, rest = column.partition(".")
    if source in (*JSON_SOURCES, "metrics") and dot:
        return Sort(column, descending, source, _path(raw, rest))
    raise ValidationError(
        f"{raw!r} is not a sort: use [-]config.<key>, params.<key>, results.<key>, metrics.<key> "
        f"or one of {', '.join(SORT_COLUMNS)}."
    )


def sort_apply(qs: QuerySet, sort: Sort, *, tie: tuple[str, ...] = ("-created_at", "-id")) -> QuerySet:
    """``qs`` ordered by ``sort`` (NULLs and missing keys last), ties newest first."""
    expression = F(sort.column) if sort.source == "column" else _expression(sort.source, sort.path)
    qs = qs.alias(_sort_key=expression)
    key = F("_sort_key").desc(nulls_last=True) if sort.descending else F("_sort_key").asc(nulls_last=True)
    return qs.order_by(key, *tie)
