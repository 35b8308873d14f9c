"""Every URL-valued field, by class (issue 12, finding 1): only http(s) URLs are stored or rendered.

Three layers, each tested for the whole class rather than one case:
- every template attribute that takes a URL from a variable (``href``, ``src``,
  ``action``, ``hx-*`` …) is either a URL the server built (``get_absolute_url``,
  ``request.path``, a ``reverse()``d context variable listed below) or goes
  through the ``http_url`` filter: a new URL-valued field fails here until it is
  classified;
- the one rule (``molexp_site.safe_url.http_url``) against a corpus of hostile URLs;
- the imported crate's source URL: refused on import, and not rendered as a link
  even when an older row holds a hostile one.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.conf import settings

from assets_app.models import Asset
from molexp_site.safe_url import http_url
from runs_app.models import Project, Run
from tests.assets_app import crate_support as cs
from tests.assets_app.crate_support import export_bytes, resign

_no_broker, chem_experiment = cs._no_broker, cs.chem_experiment
finished_run = cs.finished_run

#: Template variables holding URLs the server builds itself (``reverse()`` in a view), never user data.
# favicon_href and swagger_ui_css: drf-spectacular's SpectacularSwaggerView builds them from settings (static files).
# edit_url: `{% url … as edit_url %}` in the same template (or the one including the banner).
SERVER_BUILT = {
    "request.path",
    "catalog_url",
    "upload_url",
    "api_docs_url",
    "favicon_href",
    "swagger_ui_css",
    "edit_url",
    # the runs table's run link: runs_app.selectors.run_table._run_url (reverse() of runs:run-detail)
    "t.url",
}
URL_ATTRIBUTE = re.compile(
    r"""\b(href|src|action|formaction|poster|hx-(?:get|post|put|patch|delete)|data-[\w-]*url)\s*=\s*["']\{\{\s*([^}]*?)\s*\}\}""",
    re.IGNORECASE,
)

HOSTILE = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x00javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/x",
    "/relative/path",
    "http:/no-host",
    "https://",
    "http://exa mple.org/",
    'https://example.org/"><script>alert(1)</script>',
    "https://example.org/\\@evil",
    "https://example.org:99999999/",
    "ftp://example.org/x",
    "https://" + "a" * 3000 + ".org/",
]
GOOD = ["https://molexp.example.org/w/lab/p/qm9/e/chem/runs/1/", "http://127.0.0.1:8000/runs/3/"]


def _template_files() -> list[Path]:
    roots = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]]
    return sorted(p for root in roots for p in root.rglob("*.html"))


def test_every_url_attribute_in_templates_is_server_built_or_filtered():
    found, unsafe = 0, []
    for path in _template_files():
        for match in URL_ATTRIBUTE.finditer(path.read_text()):
            found += 1
            expression = match.group(2)
            variable, *filters = [part.strip() for part in expression.split("|")]
            if any(f.startswith("http_url") for f in filters):
                continue
            if variable.endswith(".get_absolute_url") or variable in SERVER_BUILT:
                continue
            unsafe.append(f"{path.name}: {match.group(0)}")
    assert found > 20  # the scan sees the templates
    assert not unsafe, "URL attributes from data must use |http_url (or be listed in SERVER_BUILT):\n" + "\n".join(
        unsafe
    )


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_the_rule_refuses_hostile_urls(value):
    assert http_url(value) is None


@pytest.mark.parametrize("value", GOOD)
def test_the_rule_keeps_http_urls(value):
    assert http_url(value) == value


def test_the_rule_refuses_non_strings():
    for value in (None, 0, ["https://x.org"], {"@id": "https://x.org"}, b"https://x.org"):
        assert http_url(value) is None


def test_the_filter_renders_nothing_for_a_hostile_url():
    from django.template import Context, Template

    template = Template("{% load molexp_urls %}[{{ url|http_url }}]")
    for value in HOSTILE:
        assert template.render(Context({"url": value})) == "[]"
    assert template.render(Context({"url": GOOD[0]})) == f"[{GOOD[0]}]"


# --- the crate's source URL --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["record", "root"])
@pytest.mark.parametrize("value", HOSTILE[:9] + ["//evil.example/x"], ids=range(10))
def test_hostile_source_url_refuses_the_crate(value, where, finished_run, viewer, api_client_for, other_ws):
    def record(rec):
        rec["source_url"] = value if where == "record" else None

    def metadata(meta):
        root = next(e for e in meta["@graph"] if e.get("@id") == "./")
        root["url"] = value if where == "root" else None

    crate = resign(export_bytes(finished_run, viewer), record=record, metadata=metadata)
    counts = (Run.objects.count(), Asset.objects.count(), Project.objects.count())
    response = api_client_for("outsider").post(
        f"/api/workspaces/{other_ws.pk}/import/", {"file": io.BytesIO(crate)}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert "is not an http(s) URL" in response.json()["detail"]
    assert (Run.objects.count(), Asset.objects.count(), Project.objects.count()) == counts


@pytest.mark.django_db(transaction=True)
def test_http_source_url_is_kept_and_linked(finished_run, viewer, outsider, other_ws, web_client_for):
    def record(rec):
        rec["source_url"] = GOOD[0]

    from runs_app.crate import crate_import

    crate = resign(export_bytes(finished_run, viewer), record=record)
    run = crate_import(user=outsider, workspace=other_ws, fileobj=io.BytesIO(crate)).run
    assert Run.objects.get(pk=run.pk).imported["source_url"] == GOOD[0]
    page = web_client_for("outsider").get(run.get_absolute_url()).content.decode()
    assert f'href="{GOOD[0]}"' in page


@pytest.mark.django_db(transaction=True)
def test_a_stored_hostile_url_is_never_rendered(finished_run, viewer, outsider, other_ws, web_client_for):
    """A row written before the import checked URLs: the page shows no link with it."""
    from runs_app.crate import crate_import

    run = crate_import(user=outsider, workspace=other_ws, fileobj=io.BytesIO(export_bytes(finished_run, viewer))).run
    for value in [v for v in HOSTILE[:9] if "\x00" not in v]:  # PostgreSQL's jsonb holds no NUL
        Run.objects.filter(pk=run.pk).update(imported={**run.imported, "source_url": value})
        page = web_client_for("outsider").get(run.get_absolute_url()).content.decode()
        assert "javascript:" not in page.lower() and "vbscript:" not in page and "data:text/html" not in page
        assert 'id="imported-note"' in page
