"""Filters shared by the FilterSets of both apps (django-filter).

Project-wide building blocks live in ``molexp_site`` so that neither app imports the
other's filtersets (SPEC §1: no app imports another's views, forms or serializers).
"""

import django_filters
from django import forms

#: Range of a signed 64-bit key: larger values overflow SQLite's INTEGER (and PostgreSQL's bigint).
ID_MIN, ID_MAX = -(2**63), 2**63 - 1


class IdFilter(django_filters.Filter):
    """An integer key filter: a decimal (``1.5``), an exponent (``1e3``), ``NaN`` or a value outside
    the 64-bit range is a form error (a 400 in the API), never a silently rounded id or a 500.

    (``NumberFilter`` parses a ``Decimal``, so ``experiment=1.5`` would have matched id 1.)
    """

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", ID_MIN)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)
