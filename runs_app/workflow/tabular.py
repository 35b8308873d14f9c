"""CSV text that is safe to open in a spreadsheet (issue 12, finding 8; OWASP "CSV injection").

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets; a molecule named ``=HYPERLINK(…)`` in an
uploaded data set would run in the spreadsheet of whoever opens the exported table. Text
cells starting with one of those characters get a leading apostrophe (shown by no
spreadsheet, and obvious to a script), and the ``csv`` module quotes separators, quotes and
line breaks. Numbers are written as numbers: ``-1.5`` stays a number.

Workflows (``from runs_app.workflow import csv_text``) and any CSV the server writes use it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

#: First characters that make a spreadsheet evaluate a cell (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: Any) -> Any:
    """``value`` with a leading apostrophe if it is text a spreadsheet would evaluate; numbers unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Mapping[str, Any] | Sequence[Any]], header: Sequence[str] | None = None) -> str:
    """Rows (mappings read by ``header``, or sequences) as formula-safe CSV text with a header line.

    Mappings need ``header`` (or use the first row's keys); sequences are written as given
    after ``header`` if one is passed. ``None`` is an empty cell.
    """
    buffer = io.StringIO()
    # CRLF (RFC 4180): the csv module then also quotes a cell holding a bare CR.
    writer = csv.writer(buffer, lineterminator="\r\n")
    rows = iter(rows)
    first = next(rows, None)
    if header is None and isinstance(first, Mapping):
        header = list(first)
    if header is not None:
        writer.writerow([formula_safe(str(name)) for name in header])
    for row in ([first] if first is not None else []) + list(rows):
        cells = [row.get(name) for name in header or ()] if isinstance(row, Mapping) else list(row)
        writer.writerow(["" if cell is None else formula_safe(cell) for cell in cells])
    return buffer.getvalue()
