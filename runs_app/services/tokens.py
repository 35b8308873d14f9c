"""Scoped API tokens: one workspace, a maximum role, an expiry (SPEC §13).

Invariants:
- The key (``mx_`` + 40 random characters) is returned once by ``scoped_token_create``;
  only its SHA-256 is stored.
- A token never grants more than its owner has: the effective role is the lower of
  the membership and the token's maximum (``access.workspace_role``).
- The token's owner and the owners of its workspace may revoke it; revoked or
  expired tokens authenticate nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ..access import workspace_require_role, workspace_role
from ..choices import AuditAction, Role
from ..models import AuditEvent, Membership, ScopedToken, Workspace

KEY_PREFIX = "mx_"  # runs_app.api.auth.SCOPED_PREFIX
MAX_DAYS = 366


def token_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def scoped_token_create(
    *, user, workspace: Workspace, name: str, max_role: str = Role.VIEWER, expires_in_days: int = 30
) -> tuple[ScopedToken, str]:
    """Create a token of ``user`` limited to ``workspace`` and ``max_role``; returns (row, key)."""
    workspace_require_role(user=user, workspace=workspace, role=Role.VIEWER)
    name = str(name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "Give the token a name (at most 100 characters)."})
    if max_role not in Role.values:
        raise ValidationError({"max_role": f"max_role is one of {', '.join(Role.values)}."})
    if (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, int)
        or not 1 <= expires_in_days <= MAX_DAYS
    ):
        raise ValidationError({"expires_in_days": f"expires_in_days is a whole number from 1 to {MAX_DAYS}."})
    key = KEY_PREFIX + secrets.token_urlsafe(30)
    token = ScopedToken.objects.create(
        user=user, name=name, key_sha256=token_key_hash(key), prefix=key[:10], workspace=workspace,
        max_role=max_role, expires_at=timezone.now() + timedelta(days=expires_in_days),
    )  # fmt: skip
    AuditEvent.objects.record(action=AuditAction.TOKEN_CREATE, actor=user, workspace=workspace, obj=token,
                              details={"max_role": max_role, "expires_at": token.expires_at.isoformat()})  # fmt: skip
    return token, key


def scoped_token_list(*, user) -> QuerySet[ScopedToken]:
    """The user's own tokens and the tokens that reach a workspace the user owns (staff: all)."""
    qs = ScopedToken.objects.select_related("user", "workspace", "revoked_by")
    if user.is_staff and getattr(user, "molexp_token_scope", None) is None:
        return qs
    owned = Membership.objects.filter(user_id=user.pk, role=Role.OWNER).values("workspace_id")
    return qs.filter(Q(user_id=user.pk) | Q(workspace_id__in=owned))


def scoped_token_revoke(*, user, pk) -> ScopedToken:
    """Revoke a token (its owner, or an owner of its workspace); ``Http404`` for anyone else."""
    try:
        token = scoped_token_list(user=user).get(pk=pk)
    except (ScopedToken.DoesNotExist, ValueError, TypeError):
        raise Http404("No such token.") from None
    if token.user_id != user.pk and workspace_role(user=user, workspace=token.workspace) != Role.OWNER:
        raise PermissionDenied("Only the token's owner and the workspace's owners revoke it.")
    if token.revoked_at is None:
        token.revoked_at, token.revoked_by = timezone.now(), user
        token.save(update_fields=["revoked_at", "revoked_by"])
        AuditEvent.objects.record(action=AuditAction.TOKEN_REVOKE, actor=user, workspace=token.workspace, obj=token)
    return token


def scoped_token_authenticate(key: str):
    """The (user, token) for a live scoped key, or None."""
    token = (
        ScopedToken.objects.select_related("user")
        .filter(key_sha256=token_key_hash(key), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    ScopedToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user, token
