"""HTML input parsing of runs_app pages; validation of business rules stays in the services."""

from __future__ import annotations

from django import forms

from .choices import Role


class BootstrapMixin:
    """Give every widget the Bootstrap class its type needs, so templates stay loops."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.HiddenInput):
                continue
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs.setdefault("class", css)


class WorkspaceCreateForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=100, required=False, help_text="Leave empty to derive it from the name.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ProjectCreateForm(WorkspaceCreateForm):
    pass


class ExperimentCreateForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.SlugField(max_length=100, required=False, help_text="Leave empty to derive it from the name.")
    workflow_source = forms.ChoiceField(
        label="Workflow file", help_text="A .py file found in the configured workflow directories."
    )
    workflow_name = forms.CharField(
        max_length=200, required=False, help_text="Which workflow of the file, when it defines several."
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, workflow_files: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workflow_source"].choices = [("", "— choose a workflow file —")] + [
            (name, name) for name in workflow_files
        ]


class MembershipSetForm(BootstrapMixin, forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MembershipRemoveForm(forms.Form):
    username = forms.CharField(max_length=150, widget=forms.HiddenInput)
