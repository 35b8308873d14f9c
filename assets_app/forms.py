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


class RetentionPolicyForm(forms.Form):
    """A workspace's retention policy (SPEC §14); the service checks the numbers again."""

    enabled = forms.BooleanField(required=False, help_text="Applied by the maintenance while enabled.")
    keep_last_checkpoints = forms.IntegerField(
        required=False, min_value=0, max_value=1_000_000, label="Keep the last K checkpoints of each run",
        help_text="Empty: keep every checkpoint.",
    )  # fmt: skip
    remove_after_days = forms.IntegerField(
        required=False, min_value=0, max_value=36_500, label="Remove logs and artifacts of runs older than N days",
        help_text="Counted from the run's end. Empty: never. Runs tagged keep and aliased versions stay.",
    )  # fmt: skip

    def signature(self) -> str:
        """The rules as one string: enabling is confirmed for exactly the rules that were previewed."""
        data = self.cleaned_data
        return f"{data.get('keep_last_checkpoints')}|{data.get('remove_after_days')}"
