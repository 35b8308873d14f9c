"""The upload page: editors and owners only; it points tus-js-client at /api/uploads/ with the CSRF token."""

from __future__ import annotations

import pytest

from runs_app.choices import Role
from tests import factories as f


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("editor", 200), ("anonymous", 302)])
def test_page_for_editors(web_client_for, ws, role, status):
    response = web_client_for(role).get("/uploads/new/")
    assert response.status_code == status
    if status == 200:
        html = response.content.decode()
        assert 'data-endpoint="/api/uploads/"' in html and "tus-js-client-4.3.1/tus.min.js" in html
        assert f'value="{ws.pk}"' in html and 'data-csrf="' in html


def test_viewer_only_is_403_and_hidden_workspace_is_404(web_client_for, ws, other_ws):
    viewer = web_client_for("viewer")
    assert viewer.get("/uploads/new/").status_code == 403
    assert viewer.get(f"/uploads/new/?workspace={ws.pk}").status_code == 403
    assert web_client_for("editor").get(f"/uploads/new/?workspace={other_ws.pk}").status_code == 404
    assert web_client_for("editor").get("/uploads/new/?workspace=abc").status_code == 404


def test_only_editable_workspaces_are_offered(web_client_for, ws, editor):
    read_only = f.WorkspaceFactory(name="Read only")
    f.MembershipFactory(workspace=read_only, user=editor, role=Role.VIEWER)
    html = web_client_for("editor").get("/uploads/new/").content.decode()
    assert "Lab" in html and "Read only" not in html


def test_workspace_page_links_to_the_upload_page_for_editors(web_client_for, ws):
    assert "/uploads/new/?workspace=" in web_client_for("editor").get("/w/lab/").content.decode()
    assert "/uploads/new/?workspace=" not in web_client_for("viewer").get("/w/lab/").content.decode()
