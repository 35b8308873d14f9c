"""Keyset (seek) pagination shared by the HTML list pages and the API lists (SPEC §11).

Invariants:
- A page is at most ``page_size + 1`` rows read in index order from a position:
  ``WHERE (k1, k2, …) after (v1, v2, …) ORDER BY k1, k2, … LIMIT n``, so page 1000
  costs what page 1 costs (MEASURED.md: OFFSET 500 000 is 234 ms, a seek 0.3 ms).
  The ordering must end with a unique column (``id``) and use only non-null columns.
- A cursor is opaque to clients: URL-safe base64 of JSON holding the direction, the
  key values of the row it points at and a fingerprint of the ordering. A cursor that
  does not decode, was made for another ordering or holds values of the wrong type is
  a ``ValidationError`` keyed ``cursor`` (the API's 400, a message on the pages).
- Cursors carry positions, not offsets: rows added above the current page never shift
  it ("stable pages while new runs arrive").
- ``?page=N`` is still served for shallow pages (OFFSET at most ``MAX_OFFSET`` rows);
  its ``next``/``previous`` are cursors, so following links is always a seek.
- Totals are counted up to a cap (``capped_count``): ``COUNT(*)`` over at most
  ``cap + 1`` ids, never over the whole table.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

#: Rows a list counts at most; above it the count is reported as "1000+" (``count_capped``).
#: The catalog engine's cap too. At 100 k runs a cap of 10 000 cost 34 ms per page on a
#: 20 000-run experiment (10 001 heap rows read for the scope check) against 0.5 ms for the rows.
COUNT_CAP = 1_000
#: Deepest OFFSET a ``?page=N`` request may reach; deeper pages are reached by following cursors.
MAX_OFFSET = 10_000
#: Longest cursor accepted (a real one is well under 200 characters).
MAX_CURSOR_LENGTH = 512

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_BAD_CURSOR = "This cursor is not valid; start again from the first page."


class PageTooDeep(Exception):
    """A ``?page=N`` beyond ``MAX_OFFSET`` rows, or past the last row."""


@dataclass
class KeysetPage:
    """One page of rows with the cursors of its neighbours (None: there is none).

    Duck-types the parts of Django's ``Page`` the templates use (``object_list``,
    ``has_next``, ``has_previous``, ``paginator.count``).
    """

    rows: list
    page_size: int
    count: int
    count_capped: bool
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def object_list(self) -> list:
        return self.rows

    @object_list.setter
    def object_list(self, rows: list) -> None:
        self.rows = list(rows)

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None

    @property
    def count_display(self) -> str:
        return f"{self.count}+" if self.count_capped else str(self.count)

    @property
    def paginator(self) -> SimpleNamespace:
        return SimpleNamespace(count=self.count)

    #: Template compatibility with the catalog's ranked (page-number) results.
    ranked = False
    keyset = True


def capped_count(qs: QuerySet, cap: int | None = None) -> tuple[int, bool]:
    """``(min(n, cap), n > cap)`` for the rows of ``qs``; one ``COUNT(*)`` over at most ``cap + 1`` ids.

    ``cap`` defaults to ``COUNT_CAP``.
    """
    cap = COUNT_CAP if cap is None else cap
    n = qs.order_by().values("pk")[: cap + 1].count()
    return min(n, cap), n > cap


def _split(ordering: Sequence[str]) -> list[tuple[str, bool]]:
    return [(term.lstrip("-"), term.startswith("-")) for term in ordering]


def _fingerprint(model: type[models.Model], ordering: Sequence[str]) -> str:
    text = f"{model._meta.label_lower}:{','.join(ordering)}"
    return hashlib.blake2s(text.encode(), digest_size=4).hexdigest()


def _field(model: type[models.Model], name: str) -> models.Field:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if field.is_relation:
        field = field.target_field
    return field


def _dump(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _load(field: models.Field, raw: Any) -> Any:
    """The Python value of one cursor component for ``field``; ``ValueError`` if it does not fit."""
    if isinstance(field, models.DateTimeField):
        value = parse_datetime(raw) if isinstance(raw, str) else None
        if value is None:
            raise ValueError(raw)
        if timezone.is_naive(value):
            raise ValueError(raw)
        return value
    if isinstance(field, models.IntegerField):  # AutoField and BigAutoField included
        if isinstance(raw, bool) or not isinstance(raw, int) or not _INT_MIN <= raw <= _INT_MAX:
            raise ValueError(raw)
        return raw
    if isinstance(field, models.CharField):
        if not isinstance(raw, str) or len(raw) > (field.max_length or 10_000):
            raise ValueError(raw)
        return raw
    raise ValueError(f"{field.name} cannot be a keyset column")


def encode_cursor(*, model: type[models.Model], ordering: Sequence[str], row: Any, direction: str) -> str:
    """The cursor of ``row`` (``direction`` "n": rows after it; "p": rows before it)."""
    values = [
        _dump(getattr(row, "pk" if name == "pk" else _field(model, name).attname)) for name, _ in _split(ordering)
    ]
    return cursor_pack(direction=direction, ordering=_fingerprint(model, ordering), values=values)


def decode_cursor(cursor: str, *, model: type[models.Model], ordering: Sequence[str]) -> tuple[str, list[Any]]:
    """``(direction, key values)`` of a cursor; ``ValidationError({"cursor": …})`` if it is not one of ours."""
    terms = _split(ordering)
    direction, keys = cursor_unpack(cursor, ordering=_fingerprint(model, ordering), length=len(terms))
    try:
        values = [_load(_field(model, name), raw) for (name, _), raw in zip(terms, keys, strict=True)]
    except (ValueError, TypeError, OverflowError):
        raise ValidationError({"cursor": _BAD_CURSOR}) from None
    return direction, values


def cursor_pack(*, direction: str, ordering: str, values: list[Any]) -> str:
    """The one cursor codec: URL-safe base64 of ``{"d": direction, "o": ordering, "k": values}``.

    ``ordering`` names what the values are positions in (a fingerprint of a queryset
    ordering, or a feed's own name), so a cursor of one list is refused by another.
    ``values`` must be JSON primitives (datetimes as ISO strings).
    """
    raw = json.dumps({"d": direction, "o": ordering, "k": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_unpack(cursor: str, *, ordering: str, length: int) -> tuple[str, list[Any]]:
    """``(direction, raw values)`` of a ``cursor_pack`` cursor made for ``ordering`` with ``length`` values.

    The caller converts and checks each value. Raises ``ValidationError({"cursor": …})`` for
    anything else (too long, not base64/JSON, another ordering, another number of values).
    """
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
        if not isinstance(data, dict) or data.get("d") not in ("n", "p"):
            raise ValueError("shape")
        if data.get("o") != ordering:
            raise ValueError("ordering")
        keys = data.get("k")
        if not isinstance(keys, list) or len(keys) != length:
            raise ValueError("keys")
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error, OverflowError):
        raise ValidationError({"cursor": _BAD_CURSOR}) from None
    return data["d"], keys


def bad_cursor() -> ValidationError:
    """The error of a cursor whose values do not fit (the same message as every bad cursor)."""
    return ValidationError({"cursor": _BAD_CURSOR})


def _seek(ordering: Sequence[str], values: list[Any], *, forward: bool) -> Q:
    """Rows strictly after (``forward``) or before ``values`` in ``ordering``.

    The OR expansion ``k1 > v1 OR (k1 = v1 AND k2 > v2) …`` is ANDed with the inclusive
    bound on the leading column (``k1 >= v1``) so that both PostgreSQL and SQLite turn it
    into an index range start instead of filtering every row above the position.
    """
    terms = _split(ordering)
    expanded = Q(pk__in=[])
    for i, (name, desc) in enumerate(terms):
        op = "lt" if desc == forward else "gt"
        cond = Q(**{f"{name}__{op}": values[i]})
        for (prev, _), value in zip(terms[:i], values[:i], strict=True):
            cond &= Q(**{prev: value})
        expanded |= cond
    lead, lead_desc = terms[0]
    bound = Q(**{f"{lead}__{'lte' if lead_desc == forward else 'gte'}": values[0]})
    return bound & expanded


def _reverse(ordering: Sequence[str]) -> list[str]:
    return [term[1:] if term.startswith("-") else f"-{term}" for term in ordering]


def keyset_page(
    qs: QuerySet,
    *,
    ordering: Sequence[str],
    page_size: int,
    cursor: str | None = None,
    page: int = 1,
    count: Callable[[], tuple[int, bool]] | None = None,
    first: Callable[[int], list] | None = None,
    read: Callable[[QuerySet, int, int], list] | None = None,
) -> KeysetPage:
    """One page of ``qs`` in ``ordering`` (the last term must be unique, e.g. ``-id``).

    ``first(n)``: the first ``n`` rows of ``qs`` in ``ordering`` when the caller can read them
    more cheaply (the catalog's recency windows); used for the first page only.
    ``read(ordered, start, stop)``: rows ``start``..``stop`` of an ordered queryset of ``qs`` when the
    caller reads them its own way (the catalog on PostgreSQL: ids first, then rows by primary key);
    by default ``list(ordered[start:stop])``.

    ``cursor`` (from a previous page) seeks; without one, ``page`` > 1 is an OFFSET of at
    most ``MAX_OFFSET`` rows (``PageTooDeep`` deeper or past the end). ``count`` returns
    ``(count, capped)``; by default ``capped_count(qs)``. Two queries: the rows and the count
    (three when a backwards cursor reaches the first page, which is then served whole).
    Raises ``ValidationError`` for a bad cursor.
    """
    model = qs.model
    ordered = qs.order_by(*ordering)
    fetch = read or (lambda q, start, stop: list(q[start:stop]))
    rows: list
    if cursor:
        direction, values = decode_cursor(cursor, model=model, ordering=ordering)
        if direction == "n":
            rows = fetch(ordered.filter(_seek(ordering, values, forward=True)), 0, page_size + 1)
            more_after, more_before = len(rows) > page_size, bool(rows)
            rows = rows[:page_size]
        else:
            back = qs.filter(_seek(ordering, values, forward=False)).order_by(*_reverse(ordering))
            rows = fetch(back, 0, page_size + 1)
            if len(rows) > page_size:
                rows, more_before, more_after = rows[:page_size][::-1], True, True
            else:
                # Back at the start: serve the first page whole (a stable first page, no short one).
                rows = fetch(ordered, 0, page_size + 1)
                more_after, more_before = len(rows) > page_size, False
                rows = rows[:page_size]
    else:
        if page < 1:
            raise PageTooDeep("Invalid page.")
        start = (page - 1) * page_size
        if start > MAX_OFFSET:
            raise PageTooDeep(f"Page numbers stop at {MAX_OFFSET} rows; follow the next links (cursors) instead.")
        rows = first(page_size + 1) if first is not None and page == 1 else fetch(ordered, start, start + page_size + 1)
        if page > 1 and not rows:
            raise PageTooDeep("Invalid page.")
        more_after, more_before = len(rows) > page_size, page > 1
        rows = rows[:page_size]
    n, capped = count() if count is not None else capped_count(qs)

    def at(row: Any, direction: str) -> str:
        return encode_cursor(model=model, ordering=ordering, row=row, direction=direction)

    return KeysetPage(
        rows=rows,
        page_size=page_size,
        count=n,
        count_capped=capped,
        next_cursor=at(rows[-1], "n") if more_after and rows else None,
        previous_cursor=at(rows[0], "p") if more_before and rows else None,
    )


@dataclass
class OffsetPage(KeysetPage):
    """A page of a list in an order no index serves (the runs table sorted by a JSON key, SPEC §15).

    Pages are numbers (OFFSET, at most ``MAX_OFFSET`` rows deep); ``next_page``/``previous_page``
    are None at the ends. ``next_cursor``/``previous_cursor`` stay None.
    """

    number: int = 1
    next_page: int | None = None
    previous_page: int | None = None
    keyset = False

    @property
    def has_next(self) -> bool:
        return self.next_page is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_page is not None


def offset_page(qs: QuerySet, *, page_size: int, page: int = 1) -> OffsetPage:
    """Page ``page`` of ``qs`` in its own order (which must end with a unique column); two queries (rows,
    capped count). ``PageTooDeep`` past the end."""
    offset = (page - 1) * page_size
    if offset > MAX_OFFSET:
        raise PageTooDeep(f"Pages go {MAX_OFFSET} rows deep in a sorted list; narrow it with a filter.")
    # Sort the narrow rows (ids and the sort key, no joins), then read the page's rows whole: one
    # query, whose outer part joins and re-sorts only ``page_size + 1`` rows.
    window = qs.values("pk")[offset : offset + page_size + 1]
    rows = list(qs.filter(pk__in=window))
    if page > 1 and not rows:
        raise PageTooDeep("There is no such page.")
    count, capped = capped_count(qs)
    more = len(rows) > page_size
    return OffsetPage(
        rows=rows[:page_size],
        page_size=page_size,
        count=count,
        count_capped=capped,
        next_cursor=None,
        previous_cursor=None,
        number=page,
        next_page=page + 1 if more and offset + page_size <= MAX_OFFSET else None,
        previous_page=page - 1 if page > 1 else None,
    )
