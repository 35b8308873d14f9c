"""The workflows guide is linked from the new-experiment page and shown inside the site (SPEC §12)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_new_experiment_page_links_the_workflows_guide(project, web_client_for, workflow_dir):
    page = web_client_for("editor").get(f"/w/{project.workspace.slug}/p/{project.slug}/e/new/")
    assert page.status_code == 200
    assert '<a href="/help/workflows/">How to add your team' in page.content.decode()


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_the_guide_shows_docs_workflows_md_to_signed_in_users(role, web_client_for):
    page = web_client_for(role).get("/help/workflows/")
    assert page.status_code == 200
    text = page.content.decode()
    for topic in ("MOLEXP_WORKFLOW_DIRS", ".molexpignore", "snapshot:", "MOLEXP_SNAPSHOT_MAX_BYTES", "<task>.stdout"):
        assert topic.replace("<", "&lt;").replace(">", "&gt;") in text, topic


def test_the_guide_needs_a_sign_in(client):
    response = client.get("/help/workflows/")
    assert response.status_code == 302 and "/login/" in response["Location"]
