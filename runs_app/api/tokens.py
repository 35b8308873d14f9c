"""Scoped tokens over the API: ``/api/tokens/`` (create, list, revoke); authentication is in ``auth.py``."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..choices import Role
from ..models import ScopedToken
from ..services import tokens as svc


class ScopedTokenSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    workspace_slug = serializers.CharField(source="workspace.slug", read_only=True)
    active = serializers.SerializerMethodField()

    class Meta:
        model = ScopedToken
        fields = ["id", "name", "prefix", "user", "workspace", "workspace_slug", "max_role", "expires_at",
                  "created_at", "last_used_at", "revoked_at", "active"]  # fmt: skip
        read_only_fields = fields

    def get_active(self, token: ScopedToken) -> bool:
        from django.utils import timezone

        return token.revoked_at is None and token.expires_at > timezone.now()


class ScopedTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    workspace = serializers.CharField(help_text="Workspace id or slug.")
    max_role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=svc.MAX_DAYS, default=30)


class ScopedTokenListView(APIView):
    """GET: my tokens and those reaching workspaces I own. POST: a new scoped token (its key shown once)."""

    @extend_schema(responses={200: ScopedTokenSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(ScopedTokenSerializer(svc.scoped_token_list(user=request.user)[:500], many=True).data)

    @extend_schema(request=ScopedTokenCreateSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        body = ScopedTokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ref = body.validated_data["workspace"]
        workspace = selectors.workspace_get(user=request.user, **({"pk": ref} if ref.isdigit() else {"slug": ref}))
        token, key = svc.scoped_token_create(
            user=request.user, workspace=workspace, name=body.validated_data["name"],
            max_role=body.validated_data["max_role"], expires_in_days=body.validated_data["expires_in_days"],
        )  # fmt: skip
        return Response({**ScopedTokenSerializer(token).data, "key": key}, status=status.HTTP_201_CREATED)


class ScopedTokenDetailView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, pk: str) -> Response:
        svc.scoped_token_revoke(user=request.user, pk=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WhoAmIView(APIView):
    """The signed-in user (``molexp whoami``) and the token's scope, if any."""

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        scope = getattr(request.user, "molexp_token_scope", None)
        body = {"username": request.user.get_username(), "id": request.user.pk}
        if scope is not None:
            body["scope"] = {"workspace": scope[0], "max_role": scope[1]}
        return Response(body)
