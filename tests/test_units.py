"""One unit for sizes (issue 14 item 7): binary prefixes everywhere, one formatter, one filter."""

from __future__ import annotations

import pathlib

import pytest
from django.template import engines

from molexp_site.units import size_display


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 * 1024**2, "5.0 MiB"),
     (3 * 1024**3 // 2, "1.5 GiB"), (2 * 1024**4, "2.0 TiB"), (None, "—"), ("x", "—"), (-1, "—")],
)  # fmt: skip
def test_size_display(size, shown):
    assert size_display(size) == shown


def test_the_filter_is_a_builtin_of_every_template():
    assert engines["django"].from_string("{{ n|filesize }}").render({"n": 1536}) == "1.5 KiB"


def test_no_template_formats_sizes_another_way():
    root = pathlib.Path(__file__).resolve().parent.parent / "templates"
    offenders = [p.name for p in root.rglob("*.html") if "filesizeformat" in p.read_text() or '"MB"' in p.read_text()]
    assert offenders == []


def test_no_template_comment_spans_lines():
    """``{# … #}`` is a one-line comment in Django: across lines it is printed on the page (it was, atop every page)."""
    root = pathlib.Path(__file__).resolve().parent.parent / "templates"
    offenders = [
        f"{p.relative_to(root)}:{n}"
        for p in root.rglob("*.html")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if "{#" in line and "#}" not in line.split("{#", 1)[1]
    ]
    assert offenders == []
