"""HTML input of the catalog pages.

The catalog filter is ``assets_app.filtersets.AssetFilterSet`` (shared with the
API); this module only shapes the choices its page offers.
"""

from __future__ import annotations

from django import forms

from .choices import AssetKind


def catalog_filter_choices(*, workspaces, projects) -> dict[str, list[tuple[str, str]]]:
    """Select options for the catalog filter form, from querysets the selectors scoped to the user."""
    return {
        "kinds": list(AssetKind.choices),
        "workspaces": [(str(w.pk), w.name) for w in workspaces],
        "projects": [(str(p.pk), f"{p.workspace.name} / {p.name}") for p in projects],
    }


class AssetEditForm(forms.Form):
    """The asset page's edit form (SPEC §14): comma-separated tags and a description."""

    tags = forms.CharField(required=False, max_length=5000, help_text="Comma-separated.")
    description = forms.CharField(required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}),
                                  strip=False)  # fmt: skip

    def cleaned_tags(self) -> list[str]:
        return [t.strip() for t in self.cleaned_data["tags"].split(",") if t.strip()]


class AssetAliasForm(forms.Form):
    """Set an alias on the version shown (or move it here)."""

    alias = forms.CharField(max_length=64)
