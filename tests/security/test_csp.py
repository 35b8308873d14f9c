"""Content-Security-Policy on every HTML page (molexp_site/csp.py; issue 12, finding 1), by class.

- every route of the URLconf that answers HTML (walked at collection time, so a page added
  tomorrow is covered) sends the nonce policy, and every ``<script>`` it renders is either a
  file or carries that response's nonce; no inline event handler, no ``javascript:`` URL;
- every template in the project follows the same rules (pages the walk reaches only in some
  states, like the new-token page, included);
- the nonce is fresh per response; a download keeps its own ``sandbox`` policy.

The browser side (htmx, Chart.js and the server-drawn task graph work under the policy, and no violation is
reported) is tests/browser/test_csp_pages.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from molexp_site.csp import policy_for

from .conftest import all_routes, build_url, fill_kwargs, reused_client

pytestmark = pytest.mark.django_db

PAGE_ROUTES = [r for r in all_routes() if r.name != "api-not-found"]

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
STYLE_TAG = re.compile(r"<style(\s[^>]*)?>", re.IGNORECASE)
#: An inline handler attribute (onclick=, onload=, …) or htmx's hx-on, in markup.
HANDLER_ATTR = re.compile(r"""<[a-zA-Z][^>]*\s(on[a-z]+|hx-on[:\w-]*)\s*=""", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def _nonce(response) -> str:
    match = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert match, response["Content-Security-Policy"]
    return match.group(1)


def _check_markup(html: str, nonce: str, where: str) -> None:
    for attrs in SCRIPT_TAG.findall(html):
        if re.search(r"\ssrc\s*=", " " + attrs) or re.search(r"""\stype=["']application/json["']""", attrs):
            continue  # a file, or a data block that never runs
        assert f'nonce="{nonce}"' in attrs, f"{where}: inline <script{attrs}> without the response's nonce"
    for attrs in STYLE_TAG.findall(html):
        assert f'nonce="{nonce}"' in attrs, f"{where}: <style{attrs}> without the response's nonce"
    assert not HANDLER_ATTR.search(html), f"{where}: inline event handler {HANDLER_ATTR.search(html).group(0)!r}"
    assert not JAVASCRIPT_URL.search(html), f"{where}: javascript: URL"


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=[r.id for r in PAGE_ROUTES])
def test_every_html_page_sends_the_nonce_policy_and_scripts_carry_the_nonce(world, route):
    url = build_url(route, fill_kwargs(route, world))
    for actor in ("owner", "anonymous"):
        # A browser asks for HTML: API routes then answer with DRF's browsable page.
        response = reused_client(world, actor, api=False).get(url, HTTP_ACCEPT="text/html,*/*;q=0.8")
        assert response.status_code < 500, (actor, url, response.status_code)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        policy = response.get("Content-Security-Policy")
        assert policy, f"{actor} GET {url}: HTML without a Content-Security-Policy"
        if policy == "sandbox":  # a download shown inline: its own, stricter policy
            continue
        nonce = _nonce(response)
        assert policy == policy_for(nonce)
        if hasattr(response, "content"):
            _check_markup(response.content.decode(errors="replace"), nonce, f"{actor} GET {url}")


def test_the_policy_has_no_unsafe_script_sources():
    policy = policy_for("n")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self' 'nonce-n'"
    assert directives["style-src"] == "'self' 'nonce-n'"
    for name in ("object-src", "base-uri", "frame-ancestors"):
        assert directives[name] == "'none'"


def test_each_response_gets_a_fresh_nonce(client, owner):
    client.force_login(owner)
    first, second = client.get("/"), client.get("/")
    assert first.status_code == second.status_code == 200
    assert _nonce(first) != _nonce(second)
    assert f'nonce="{_nonce(first)}"' not in second.content.decode()


def test_error_pages_are_covered_too(client, owner):
    client.force_login(owner)
    response = client.get("/w/no-such-workspace/")
    assert response.status_code == 404
    assert "nonce-" in response["Content-Security-Policy"]


def _templates() -> list[Path]:
    roots = [Path(d) for t in django_settings.TEMPLATES for d in t["DIRS"]]
    roots += [Path(django_settings.BASE_DIR) / app / "templates" for app in ("runs_app", "assets_app")]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*.html"))


@pytest.mark.parametrize("template", _templates(), ids=lambda p: p.name)
def test_every_template_keeps_scripts_under_the_nonce(template):
    _check_markup(template.read_text(), "{{ csp_nonce }}", str(template))


def test_htmx_is_configured_for_the_policy():
    base = (Path(django_settings.BASE_DIR) / "templates" / "base.html").read_text()
    config = re.search(r"""<meta name="htmx-config" content='([^']+)'>""", base)
    assert config, "base.html must configure htmx for the CSP"
    assert '"includeIndicatorStyles": false' in config.group(1)
    assert '"allowEval": false' in config.group(1)
    assert '"allowScriptTags": false' in config.group(1)
    # Back reloads the page (a restored copy would hold an old nonce; page copies stay out of localStorage).
    assert '"historyCacheSize": 0' in config.group(1) and '"refreshOnHistoryMiss": true' in config.group(1)
