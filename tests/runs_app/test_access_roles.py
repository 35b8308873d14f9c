"""The one role comparison (``runs_app.access.role_at_least``) and the data libraries installed on the models."""

import pytest

from runs_app.access import role_at_least
from runs_app.choices import Role
from runs_app.models import Experiment, Project, Workspace


@pytest.mark.parametrize(
    ("have", "needed", "expected"),
    [
        (None, Role.VIEWER, False),
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.EDITOR, False),
        (Role.EDITOR, Role.VIEWER, True),
        (Role.EDITOR, Role.EDITOR, True),
        (Role.EDITOR, Role.OWNER, False),
        (Role.OWNER, Role.EDITOR, True),
        ("owner", "viewer", True),  # plain strings from a values_list() compare the same way
        ("viewer", "owner", False),
    ],
)
def test_role_at_least_orders_viewer_editor_owner(have, needed, expected):
    assert role_at_least(have, needed) is expected


def test_unknown_role_is_an_error_not_a_silent_no():
    with pytest.raises(ValueError):
        role_at_least("admin", Role.VIEWER)


@pytest.mark.parametrize("model", [Workspace, Project, Experiment])
def test_data_assets_is_installed_on_the_scopes_by_assets_app(model):
    # runs_app.models never imports assets services; assets_app.apps installs the property.
    assert isinstance(model.__dict__.get("data_assets"), property)
