"""HTML input of the catalog pages.

The catalog filter is ``assets_app.filtersets.AssetFilterSet`` (shared with the
API); this module only shapes the choices its page offers.
"""

from __future__ import annotations

from .choices import AssetKind


def catalog_filter_choices(*, workspaces, projects) -> dict[str, list[tuple[str, str]]]:
    """Select options for the catalog filter form, from querysets the selectors scoped to the user."""
    return {
        "kinds": list(AssetKind.choices),
        "workspaces": [(str(w.pk), w.name) for w in workspaces],
        "projects": [(str(p.pk), f"{p.workspace.name} / {p.name}") for p in projects],
    }
