"""Old page URLs after a rename (SPEC §14): 301 from a slug a workspace, project or experiment used to have.

``SlugRedirectMiddleware.process_exception`` runs only when a page raised ``Http404``: for a GET
whose URL names ``ws``/``project``/``experiment`` slugs, each slug that no live object holds is
looked up in ``SlugRedirect`` (kept by ``services.editing``), and the same URL name is reversed
with the current slugs. Pages keep resolving slugs as before (no query added to a page that
exists). The redirect is given only to a user who may read the workspace, so an outsider learns
nothing (they get the 404 they got before). API URLs use ids and never need this.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.urls import NoReverseMatch, reverse

from .access import scope_to_user
from .models import Experiment, Project, SlugRedirect, Workspace


def _current(model, kind: str, slug: str, parent_id: int, **parent) -> object | None:
    """The live object with ``slug`` under ``parent``, else the one a redirect points at."""
    obj = model.objects.filter(slug=slug, **parent).first()
    if obj is not None:
        return obj
    target = (
        SlugRedirect.objects.filter(kind=kind, parent_id=parent_id, old_slug=slug)
        .values_list("target_id", flat=True)
        .first()
    )
    return None if target is None else model.objects.filter(pk=target, **parent).first()


def slug_redirect_url(request: HttpRequest) -> str | None:
    """The URL this request's page has now, if one of its slugs was renamed and the user may read it."""
    match = request.resolver_match
    if match is None or "ws" not in match.kwargs:
        return None
    kwargs = dict(match.kwargs)
    workspace = _current(Workspace, "workspace", kwargs["ws"], 0)
    if workspace is None or not scope_to_user(Workspace.objects.filter(pk=workspace.pk), user=request.user,
                                              field="id").exists():  # fmt: skip
        return None
    kwargs["ws"] = workspace.slug
    if "project" in kwargs:
        project = _current(Project, "project", kwargs["project"], workspace.pk, workspace_id=workspace.pk)
        if project is None:
            return None
        kwargs["project"] = project.slug
        if "experiment" in kwargs:
            experiment = _current(Experiment, "experiment", kwargs["experiment"], project.pk, project_id=project.pk)
            if experiment is None:
                return None
            kwargs["experiment"] = experiment.slug
    if kwargs == match.kwargs:
        return None
    try:
        url = reverse(match.view_name, kwargs=kwargs)
    except NoReverseMatch:
        return None
    query = request.META.get("QUERY_STRING", "")
    return f"{url}?{query}" if query else url


class SlugRedirectMiddleware:
    """Turns a page's 404 into a 301 to its renamed URL (see the module docstring)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, Http404) or request.method not in ("GET", "HEAD"):
            return None
        if not getattr(request, "user", None) or not request.user.is_authenticated:
            return None
        url = slug_redirect_url(request)
        return HttpResponsePermanentRedirect(url) if url else None
