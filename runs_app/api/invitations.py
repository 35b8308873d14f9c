"""Invitations over the API: the invitee lists, accepts and declines theirs; members see a workspace's.

An owner invites with ``POST /api/workspaces/{id}/members/`` (202 with the invitation for a
non-member) and withdraws with ``DELETE /api/workspaces/{id}/members/{username}/``.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..models import Invitation
from .serializers import InvitationRespondSerializer, InvitationSerializer, MembershipSerializer


class InvitationListView(ListAPIView):
    """The caller's pending invitations, newest first."""

    serializer_class = InvitationSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Invitation]:
        return selectors.invitation_list_for_user(user=self.request.user)


@extend_schema(
    parameters=[OpenApiParameter("workspace_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Workspace id.")]
)
class WorkspaceInvitationListView(ListAPIView):
    """Pending invitations of a workspace (any member reads them)."""

    serializer_class = InvitationSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Invitation]:
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        workspace = selectors.workspace_get(user=self.request.user, pk=self.kwargs["workspace_pk"])
        return selectors.invitation_list(user=self.request.user, workspace=workspace)


class InvitationAcceptView(APIView):
    """Accept the caller's invitation to a workspace: they become a member (200 with the membership)."""

    @extend_schema(request=InvitationRespondSerializer, responses={200: MembershipSerializer})
    def post(self, request: Request) -> Response:
        body = InvitationRespondSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = services.invitation_accept(user=request.user, workspace_id=body.validated_data["workspace"])
        return Response(MembershipSerializer(membership).data)


class InvitationDeclineView(APIView):
    """Decline the caller's invitation to a workspace (204)."""

    @extend_schema(request=InvitationRespondSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        body = InvitationRespondSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.invitation_decline(user=request.user, workspace_id=body.validated_data["workspace"])
        return Response(status=status.HTTP_204_NO_CONTENT)
