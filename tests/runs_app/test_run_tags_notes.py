"""Run tags and notes (SPEC §14): the service, PATCH /api/runs/{id}/, the run page form, safe Markdown,
``tag:`` in the run conditions (API and workspace runs page), and the token audit of POST /api/auth/token/."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from molexp_site.errors import Conflict
from runs_app import services
from runs_app.choices import AuditAction
from runs_app.models import AuditEvent, Run
from runs_app.templatetags.molexp_markdown import markdown_render
from tests import factories as f


def test_annotate_normalises_tags_and_keeps_notes(run, editor):
    services.run_annotate(user=editor, run=run, tags=[" keep ", "best", "keep"], notes="**bold**\n")
    run.refresh_from_db()
    assert run.tags == ["keep", "best"] and run.notes == "**bold**\n"
    services.run_annotate(user=editor, run=run, notes="")  # tags untouched
    run.refresh_from_db()
    assert run.tags == ["keep", "best"] and run.notes == ""


@pytest.mark.parametrize(
    "tags", [["has space"], [""], ["x" * 65], "not-a-list-but-ok,  ,", [1], ["t"] * 1 + [f"t{i}" for i in range(40)]]
)
def test_bad_tags_are_refused_and_change_nothing(run, editor, tags):
    if isinstance(tags, str):  # the page's comma-separated text is accepted
        services.run_annotate(user=editor, run=run, tags=tags)
        run.refresh_from_db()
        assert run.tags == ["not-a-list-but-ok"]
        return
    with pytest.raises(ValidationError):
        services.run_annotate(user=editor, run=run, tags=tags, notes="changed")
    run.refresh_from_db()
    assert run.tags == [] and run.notes == ""


def test_viewers_cannot_annotate_and_archived_runs_are_read_only(run, viewer, editor, experiment):
    with pytest.raises(PermissionDenied):
        services.run_annotate(user=viewer, run=run, tags=["x"])
    services.experiment_update(user=editor, experiment=experiment, archived=True)
    run = Run.objects.select_related("experiment", "project", "workspace").get(pk=run.pk)
    with pytest.raises(Conflict):
        services.run_annotate(user=editor, run=run, tags=["x"])


def test_markdown_is_rendered_and_sanitised():
    html = markdown_render(
        "# Title\n\n*em* [ok](https://example.org) [bad](javascript:alert(1))\n\n<script>alert(1)</script>\n"
        '<img src=x onerror="alert(1)">'
    )
    assert "<h1>Title</h1>" in html and "<em>em</em>" in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer nofollow"' in html
    assert "<script" not in html and 'href="javascript' not in html and "<img" not in html
    assert "&lt;script&gt;" in html  # raw HTML is shown as text


def test_api_patch_tags_and_notes(api_client_for, run):
    response = api_client_for("editor").patch(
        f"/api/runs/{run.pk}/", {"tags": ["keep", "paper"], "notes": "see *fig 3*"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["tags"] == ["keep", "paper"] and response.json()["notes"] == "see *fig 3*"
    row = api_client_for("viewer").get("/api/runs/").json()["results"][0]
    assert row["tags"] == ["keep", "paper"] and row["notes"] == "see *fig 3*" and "fingerprint" in row


@pytest.mark.parametrize(
    ("role", "body", "status"),
    [
        ("viewer", {"tags": ["x"]}, 403),
        ("outsider", {"tags": ["x"]}, 404),
        ("editor", {"tags": "keep"}, 400),
        ("editor", {"tags": ["bad tag"]}, 400),
        ("editor", {"notes": ["not", "text"]}, 400),
        ("editor", {"tags": [f"t{i}" for i in range(33)]}, 400),
    ],
)
def test_api_patch_refusals_change_nothing(api_client_for, run, role, body, status):
    assert api_client_for(role).patch(f"/api/runs/{run.pk}/", body, format="json").status_code == status
    run.refresh_from_db()
    assert run.tags == [] and run.notes == ""


def test_tag_condition_filters_api_and_workspace_page(api_client_for, web_client_for, experiment, editor):
    kept = f.RunFactory(experiment=experiment, tags=["keep", "best"])
    f.RunFactory(experiment=experiment, tags=["keeper"])
    f.RunFactory(experiment=experiment)
    body = api_client_for("viewer").get("/api/runs/?filter=tag:keep").json()
    assert [r["id"] for r in body["results"]] == [kept.pk]
    assert api_client_for("viewer").get("/api/runs/?filter=tag:a%20b").status_code == 400
    page = web_client_for("viewer").get("/w/lab/runs/?filter=tag:best")
    assert page.status_code == 200
    assert f"/runs/{kept.number}/" in page.content.decode()


def test_run_page_shows_notes_safely_and_editors_get_the_form(web_client_for, run, editor):
    services.run_annotate(user=editor, run=run, tags=["keep"], notes="**done** <script>alert(1)</script>")
    url = run.get_absolute_url()
    page = web_client_for("editor").get(url).content.decode()
    assert "<strong>done</strong>" in page and "<script>alert(1)" not in page
    assert f'action="/runs/{run.pk}/notes/"' in page
    assert f'action="/runs/{run.pk}/notes/"' not in web_client_for("viewer").get(url).content.decode()


def test_run_notes_form_saves_and_refuses(web_client_for, run):
    response = web_client_for("editor").post(f"/runs/{run.pk}/notes/", {"tags": "keep, best", "notes": "n"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.tags == ["keep", "best"] and run.notes == "n"
    assert web_client_for("viewer").post(f"/runs/{run.pk}/notes/", {"tags": "x"}).status_code == 403
    assert web_client_for("outsider").post(f"/runs/{run.pk}/notes/", {"tags": "x"}).status_code == 404
    web_client_for("editor").post(f"/runs/{run.pk}/notes/", {"tags": "bad tag!", "notes": "other"})
    run.refresh_from_db()
    assert run.tags == ["keep", "best"] and run.notes == "n"


@pytest.mark.parametrize("size", [3, 12])
def test_api_run_list_with_tags_query_count(api_client_for, experiment, size, django_assert_max_num_queries):
    for i in range(size):
        f.RunFactory(experiment=experiment, tags=["keep"] if i % 2 else [], notes="n" * 10)
    with django_assert_max_num_queries(4):
        assert api_client_for("viewer").get("/api/runs/?filter=tag:keep").status_code == 200


def test_first_token_from_api_auth_token_is_audited_once(owner):
    client = APIClient()
    for _ in range(2):
        response = client.post("/api/auth/token/", {"username": "owner", "password": "pw-for-tests-1"}, format="json")
        assert response.status_code == 200
    events = AuditEvent.objects.filter(action=AuditAction.TOKEN_CREATE, actor=owner)
    assert events.count() == 1 and events.get().details == {"via": "api/auth/token"}


def test_markdown_sanitiser_drops_dangerous_urls_that_markdown_lets_through():
    html = markdown_render("![x](https://example.org/a.png) [mail](mailto:a@b.c) <https://example.org/x>")
    assert '<img src="https://example.org/a.png" alt="x">' in html and 'href="mailto:a@b.c"' in html
    assert 'href="data:' not in markdown_render("[d](data:text/html;base64,PHNjcmlwdD4=)")
