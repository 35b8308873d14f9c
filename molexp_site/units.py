"""One unit for sizes everywhere people read them: binary prefixes, spelled as such (KiB, MiB,
GiB, TiB; 1 MiB = 1024 KiB). Pages use the ``filesize`` template filter (a builtin of every
template, ``molexp_site.templatetags``), messages call ``size_display``; nothing else formats sizes."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size_display(size: int | float | None) -> str:
    """``1536`` → ``"1.5 KiB"``, ``0`` → ``"0 B"``, ``None`` or junk → ``"—"``."""
    try:
        value = float(size)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if value != value or value < 0:  # NaN or negative: not a size
        return "—"
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover
