"""The runs_app REST API: thin viewsets over the selectors (reads) and services (writes).

Every queryset comes from a user-scoped selector, so an outsider gets 404 for a
row and never sees it in a list or a count. Writes validate the body with an
input serializer, call one service and answer with the output serializer;
errors the services raise are mapped by ``molexp_site.api.exception_handler``.

Viewsets accept any path segment as an id (``lookup_value_regex``) so that a
malformed id reaches the selector and is a JSON 404, not an HTML one.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from molexp_site.api import KeysetPagination, SortedPagination
from molexp_site.throttle import token_signin_guard

from .. import selectors, services
from ..choices import Role
from ..filtersets import ExperimentFilterSet, ProjectFilterSet, RunFilterSet, run_filter_experiment
from ..forms import EVENT_CURSOR_PARAMS, run_event_cursor_clean
from ..models import Experiment, Invitation, Membership, Project, Run, Workspace
from ..run_conditions import sort_apply, sort_parse
from .serializers import (
    ExperimentCreateSerializer,
    ExperimentDetailSerializer,
    ExperimentSerializer,
    ExperimentUpdateSerializer,
    InvitationSerializer,
    LaunchPreviewSerializer,
    LaunchResultSerializer,
    LaunchSerializer,
    MembershipSerializer,
    MembershipSetSerializer,
    MetricSeriesSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    RunCloneSerializer,
    RunDetailSerializer,
    RunHistorySerializer,
    RunSerializer,
    RunUpdateSerializer,
    TokenSerializer,
    WorkflowFileSerializer,
    WorkspaceCreateSerializer,
    WorkspaceSerializer,
    WorkspaceUpdateSerializer,
)
from .trash import TrashDestroyMixin

#: ``?archived=``: the API lists show active rows; ``true`` lists the archived ones (SPEC §14).
_ARCHIVED = OpenApiParameter(
    "archived", OpenApiTypes.BOOL, OpenApiParameter.QUERY,
    description="true: only archived rows; false (default): only active ones. Details are always readable.",
)  # fmt: skip


def _list_archived(view) -> bool | None:
    """The archive state a list shows (active unless ``?archived=true``); None (all) for details."""
    if getattr(view, "action", None) != "list":
        return None
    return view.request.query_params.get("archived", "").lower() in ("1", "true", "yes")


class TokenCreateView(APIView):
    """Exchange a username and password for the user's API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Security battery (SPEC §11): a per-client request rate; failed passwords are counted per
    # (username, client) and per client by the authentication backend, like every login path
    # (molexp_site.throttle): 429 with Retry-After while locked.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth-token"

    @extend_schema(request=AuthTokenSerializer, responses={200: TokenSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        token_signin_guard(request, lambda: serializer.is_valid(raise_exception=True))
        token = services.token_get_or_create(user=serializer.validated_data["user"])
        return Response(TokenSerializer({"token": token.key}).data)


# --- workspaces -----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(parameters=[_ARCHIVED]),
    create=extend_schema(request=WorkspaceCreateSerializer, responses={201: WorkspaceSerializer}),
)
class WorkspaceViewSet(TrashDestroyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Workspaces the caller is a member of (staff: all). Anyone signed in may create one and owns it."""

    queryset = Workspace.objects.none()
    lookup_value_regex = "[^/]+"
    serializer_class = WorkspaceSerializer

    def get_queryset(self) -> QuerySet[Workspace]:
        return selectors.workspace_list_with_role(user=self.request.user, archived=_list_archived(self))

    def create(self, request: Request) -> Response:
        body = WorkspaceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace = services.workspace_create(user=request.user, **body.validated_data)
        workspace = self.get_queryset().get(pk=workspace.pk)
        return Response(WorkspaceSerializer(workspace).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WorkspaceUpdateSerializer, responses={200: WorkspaceSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        """SPEC §14: rename, describe, archive or unarchive (owners and staff); set the storage quota."""
        workspace = self.get_object()
        body = WorkspaceUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        quota_given = "storage_quota_bytes" in fields
        quota = fields.pop("storage_quota_bytes", None)
        if fields or not quota_given:
            workspace = services.workspace_update(user=request.user, workspace=workspace, **fields)
        if quota_given:
            services.workspace_quota_set(user=request.user, workspace=workspace, storage_quota_bytes=quota)
        return Response(WorkspaceSerializer(self.get_queryset().get(pk=workspace.pk)).data)


_WORKSPACE_PK = OpenApiParameter("workspace_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Workspace id.")
_USERNAME = OpenApiParameter("username", OpenApiTypes.STR, OpenApiParameter.PATH, description="Member's username.")


@extend_schema_view(
    list=extend_schema(parameters=[_WORKSPACE_PK]),
    create=extend_schema(
        parameters=[_WORKSPACE_PK],
        request=MembershipSetSerializer,
        responses={201: MembershipSerializer, 202: InvitationSerializer},
        description="A member's role changes (201); anyone else is invited (202) and joins on accepting.",
    ),
    destroy=extend_schema(parameters=[_WORKSPACE_PK, _USERNAME], responses={204: None}),
)
class MembershipViewSet(viewsets.GenericViewSet):
    """Members of a workspace: any member reads them; owners invite, change and remove them."""

    queryset = Membership.objects.none()
    serializer_class = MembershipSerializer

    def _workspace(self) -> Workspace:
        return selectors.workspace_get(user=self.request.user, pk=self.kwargs["workspace_pk"])

    def get_queryset(self) -> QuerySet[Membership]:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return selectors.membership_list(user=self.request.user, workspace=self._workspace())

    def list(self, request: Request, workspace_pk: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    def create(self, request: Request, workspace_pk: str) -> Response:
        workspace = self._workspace()
        body = MembershipSetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.membership_set(actor=request.user, workspace=workspace, **body.validated_data)
        if isinstance(result, Invitation):
            return Response(InvitationSerializer(result).data, status=status.HTTP_202_ACCEPTED)
        return Response(MembershipSerializer(result).data, status=status.HTTP_201_CREATED)

    def destroy(self, request: Request, workspace_pk: str, username: str) -> Response:
        services.membership_remove(actor=request.user, workspace=self._workspace(), username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- projects and experiments -----------------------------------------------------------


@extend_schema_view(
    list=extend_schema(parameters=[_ARCHIVED]),
    create=extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer}),
)
class ProjectViewSet(TrashDestroyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Projects of the caller's workspaces; editors and owners create them."""

    queryset = Project.objects.none()
    lookup_value_regex = "[^/]+"
    serializer_class = ProjectSerializer
    filterset_class = ProjectFilterSet

    def get_queryset(self) -> QuerySet[Project]:
        return selectors.project_list(user=self.request.user, archived=_list_archived(self))

    def create(self, request: Request) -> Response:
        body = ProjectCreateSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        project = services.project_create(user=request.user, **body.validated_data)
        project = self.get_queryset().get(pk=project.pk)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ProjectUpdateSerializer, responses={200: ProjectSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        """SPEC §14: rename, describe, archive or unarchive (owners and staff)."""
        project = self.get_object()
        body = ProjectUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.project_update(user=request.user, project=project, **body.validated_data)
        return Response(ProjectSerializer(self.get_queryset().get(pk=project.pk)).data)


@extend_schema_view(
    list=extend_schema(parameters=[_ARCHIVED]),
    create=extend_schema(request=ExperimentCreateSerializer, responses={201: ExperimentDetailSerializer}),
)
class ExperimentViewSet(TrashDestroyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Experiments of the caller's workspaces; editors and owners create them from a workflow file."""

    queryset = Experiment.objects.none()
    lookup_value_regex = "[^/]+"
    filterset_class = ExperimentFilterSet

    def get_serializer_class(self):
        return ExperimentSerializer if self.action == "list" else ExperimentDetailSerializer

    def get_queryset(self) -> QuerySet[Experiment]:
        return selectors.experiment_list(user=self.request.user, archived=_list_archived(self))

    def create(self, request: Request) -> Response:
        body = ExperimentCreateSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        experiment = services.experiment_create(user=request.user, **body.validated_data)
        experiment = self.get_queryset().get(pk=experiment.pk)
        return Response(ExperimentDetailSerializer(experiment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ExperimentUpdateSerializer, responses={200: ExperimentDetailSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        """SPEC §14: rename, describe, archive or unarchive, pick the workflow (editors and owners)."""
        experiment = self.get_object()
        body = ExperimentUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.experiment_update(user=request.user, experiment=experiment, **body.validated_data)
        return Response(ExperimentDetailSerializer(self.get_queryset().get(pk=experiment.pk)).data)

    @extend_schema(request=LaunchSerializer, responses={201: LaunchResultSerializer})
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def launch(self, request: Request, pk: str) -> Response:
        """Launch one run (``params``) or one per sweep cell (``sweep``); editors and owners.

        A bad request (unknown profile, malformed override, a sweep axis that is
        not a list, params and sweep together, a missing workflow file) is a 400
        naming the problem, and creates nothing. The runs are queued after commit.
        """
        experiment = selectors.experiment_get(user=request.user, pk=pk)
        # Refuse a viewer before reading the body, as a permission class would.
        selectors.workspace_require_role(user=request.user, workspace=experiment.workspace, role=Role.EDITOR)
        body = LaunchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        launched = services.run_launch(user=request.user, experiment=experiment, **body.validated_data)
        runs = selectors.run_list_with_executions(user=request.user, pks=[run.pk for run in launched])
        result = {"runs": runs, "warnings": launched.warnings}
        return Response(LaunchResultSerializer(result).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=LaunchSerializer, responses={200: LaunchPreviewSerializer})
    @action(detail=True, methods=["post"], url_path="launch-preview", filterset_class=None, pagination_class=None)
    def launch_preview(self, request: Request, pk: str) -> Response:
        """Validate a launch and resolve its config without writing anything; any member.

        Also lists runs of the workspace that already used the resulting config
        (same ``config_hash``). Git state is not captured (it is not previewed).
        """
        experiment = selectors.experiment_get(user=request.user, pk=pk)
        body = LaunchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        plan = services.launch_plan(experiment=experiment, capture_git=False, **body.validated_data)
        preview = selectors.launch_preview(user=request.user, workspace=experiment.workspace, plan=plan)
        return Response(LaunchPreviewSerializer(preview).data)


# --- runs -------------------------------------------------------------------------------


_EVENT_PARAMS = [
    OpenApiParameter("events_after", OpenApiTypes.INT, OpenApiParameter.QUERY,
                     description="Events after this event id (the ``events_next`` link)."),
    OpenApiParameter("events_before", OpenApiTypes.INT, OpenApiParameter.QUERY,
                     description="Events before this event id (the ``events_previous`` link)."),
    OpenApiParameter("events", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=["latest"],
                     description="``latest``: the newest page of events."),
]  # fmt: skip
_METRIC_KEY = OpenApiParameter(
    "key", OpenApiTypes.STR, OpenApiParameter.QUERY, many=True, description="Only these metric keys (repeatable)."
)


class RunViewSet(TrashDestroyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of the caller's workspaces: flat rows in the list, the full record in the detail.

    Cancel, rerun, resume and clone need the editor role; which state allows
    which action (409 otherwise, imported runs included) is decided by
    ``runs_app.policy``, whose guards the services apply under the run's lock
    (the run page offers the same actions from ``policy.run_actions``). The list is
    keyset-paginated (``?cursor=`` links, a capped ``count``), newest first.
    """

    queryset = Run.objects.none()
    lookup_value_regex = "[^/]+"
    filterset_class = RunFilterSet
    pagination_class = KeysetPagination
    keyset_ordering = selectors.RUN_LIST_ORDERING

    def get_serializer_class(self):
        if self.action == "list":
            return RunSerializer
        if self.action == "history":
            return RunHistorySerializer
        return RunDetailSerializer

    def get_queryset(self) -> QuerySet[Run]:
        experiment = run_filter_experiment(self.request.query_params) if self.action == "list" else None
        return selectors.run_list(user=self.request.user, filters={"experiment": experiment})

    def filter_queryset(self, queryset: QuerySet[Run]) -> QuerySet[Run]:
        """The run conditions (``RunFilterSet``, 400 if malformed), then ``?sort=`` (SPEC §15)."""
        queryset = super().filter_queryset(queryset)
        if self.action == "list" and self.request.query_params.get("sort"):
            queryset = sort_apply(queryset, sort_parse(self.request.query_params["sort"]))
        return queryset

    @property
    def paginator(self):
        """Keyset pages newest first; numbered pages when the list is ``?sort=``-ed by a column."""
        if not hasattr(self, "_paginator"):
            params = getattr(getattr(self, "request", None), "query_params", None) or {}
            sorted_list = getattr(self, "action", None) == "list" and bool(params.get("sort"))
            self._paginator = SortedPagination() if sorted_list else KeysetPagination()
        return self._paginator

    def get_object(self) -> Run:
        return selectors.run_get(user=self.request.user, pk=self.kwargs["pk"])

    @extend_schema(responses=RunHistorySerializer, parameters=_EVENT_PARAMS)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def history(self, request: Request, pk: str) -> Response:
        """Every execution of the run with its task executions, and one page of its status events in order.

        Events are keyset-paginated (``MOLEXP_RUN_EVENTS_PAGE_SIZE`` per page): follow
        ``events_next`` / ``events_previous``; ``?events=latest`` gives the newest page.
        """
        run = self.get_object()
        page = selectors.run_event_page(run=run, **run_event_cursor_clean(request.query_params))
        url = request.build_absolute_uri()
        for name in ("events", *EVENT_CURSOR_PARAMS):
            url = remove_query_param(url, name)
        history = {
            "run": run.pk,
            "status": run.status,
            "executions": selectors.execution_list(run=run),
            "events": page.events,
            "events_next": replace_query_param(url, "events_after", page.last_id) if page.has_newer else None,
            "events_previous": replace_query_param(url, "events_before", page.first_id) if page.has_older else None,
        }
        return Response(RunHistorySerializer(history).data)

    @extend_schema(responses=MetricSeriesSerializer, parameters=[_METRIC_KEY])
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def metrics(self, request: Request, pk: str) -> Response:
        """The run's metric series by key (``?key=`` repeatable), each bounded to 2000 points."""
        run = self.get_object()
        keys = [key for key in request.query_params.getlist("key") if key]
        series = selectors.metric_series(run=run, keys=keys or None)
        body = {
            "series": {key: entry["points"] for key, entry in series.items()},
            "counts": {key: entry["total"] for key, entry in series.items()},
        }
        return Response(MetricSeriesSerializer(body).data)

    @extend_schema(request=RunUpdateSerializer, responses={200: RunDetailSerializer})
    def partial_update(self, request: Request, pk: str) -> Response:
        """SPEC §14: set the run's ``tags`` and/or ``notes`` (editors and owners)."""
        run = self.get_object()
        body = RunUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.run_annotate(user=request.user, run=run, **body.validated_data)
        return self._detail(run.pk)

    def _editable_run(self) -> Run:
        run = self.get_object()
        selectors.workspace_require_role(user=self.request.user, workspace=run.workspace, role=Role.EDITOR)
        return run

    def _detail(self, run_pk: int, *, status_code: int = status.HTTP_200_OK) -> Response:
        run = selectors.run_list_with_executions(user=self.request.user, pks=[run_pk]).get()
        return Response(RunDetailSerializer(run).data, status=status_code)

    @extend_schema(request=None, responses={200: RunDetailSerializer})
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel a queued run at once, a running one cooperatively; 409 if it already ended."""
        run = services.run_cancel(user=request.user, run=self._editable_run())
        return self._detail(run.pk)

    @extend_schema(request=None, responses={201: RunDetailSerializer})
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def rerun(self, request: Request, pk: str) -> Response:
        """A new execution from the top; 409 unless the run is failed, cancelled or lost."""
        execution = services.run_rerun(user=request.user, run=self._editable_run())
        return self._detail(execution.run_id, status_code=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: RunDetailSerializer})
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def resume(self, request: Request, pk: str) -> Response:
        """A new execution reusing the outputs of tasks that succeeded; 409 unless failed, cancelled or lost."""
        execution = services.run_resume(user=request.user, run=self._editable_run())
        return self._detail(execution.run_id, status_code=status.HTTP_201_CREATED)

    @extend_schema(request=RunCloneSerializer, responses={201: RunDetailSerializer})
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def clone(self, request: Request, pk: str) -> Response:
        """A new run with the same snapshot and config, optionally edited (overrides, params), queued at once."""
        run = self._editable_run()
        body = RunCloneSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        clone = services.run_clone(user=request.user, run=run, **body.validated_data)
        return self._detail(clone.pk, status_code=status.HTTP_201_CREATED)


class WorkflowListView(ListAPIView):
    """Workflow files the server discovered under ``MOLEXP_WORKFLOW_DIRS``: workflows, tasks and profiles.

    Server configuration rather than workspace data, so any signed-in user may
    read it. The files are inspected in a subprocess (cached by content), never
    imported by the web process. Paginated like every list.
    """

    serializer_class = WorkflowFileSerializer
    filter_backends: list = []

    def get_queryset(self) -> list[dict]:
        return services.workflow_list()
