"""Aliases of asset versions and the editable fields of an asset (SPEC §14).

Invariants:
- An alias names one version of an asset name in its scope: one ``AssetAlias`` row per
  (scope, kind, name, alias). Setting it on another version of that name *moves* it (the
  same row is updated under a row lock), and the move is recorded in the audit log.
- An alias is a short word (letters, digits, ``.``, ``_``, ``-``; not only digits, so
  ``name@3`` always means version 3 and ``name@paper`` the alias).
- Editing tags or description rewrites ``search_text`` with the same extra text
  (traceback, log words) it held, so the catalog search finds the new words only.
- Editors and owners (and staff) alias and edit; imported (crate) assets are read-only.
"""

from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from runs_app.access import workspace_require_role
from runs_app.choices import AuditAction, Role
from runs_app.models import AuditEvent

from ..models import Asset, AssetAlias
from .registration import _clean_tags, _search_text

ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DESCRIPTION_MAX_CHARS = 10_000


def alias_clean(alias: object) -> str:
    """The alias, or ``ValidationError`` naming what is wrong with it."""
    if not isinstance(alias, str) or not ALIAS_RE.match(alias.strip()) or alias.strip().isdigit():
        raise ValidationError(
            {
                "alias": "An alias is 1-64 letters, digits, '.', '_' or '-', starts with a letter or digit, "
                "and is not only digits (name@3 means version 3)."
            }  # fmt: skip
        )
    return alias.strip()


def _require_editable(*, user: AbstractBaseUser, asset: Asset) -> None:
    workspace_require_role(user=user, workspace=asset.workspace, role=Role.EDITOR)
    if asset.imported:
        raise PermissionDenied("This asset came from an imported crate and is read-only.")


def asset_alias_set(*, user: AbstractBaseUser, asset: Asset, alias: str) -> tuple[AssetAlias, int | None]:
    """Point ``alias`` at ``asset`` (this version of its name, in its scope); create it or move it.

    Returns the alias row and the id of the version it pointed at before (``None`` when new
    or unchanged). Raises ``ValidationError`` (bad alias), ``PermissionDenied`` (viewers,
    imported assets). Side effects: one row created or updated; an audit entry when moved.
    """
    _require_editable(user=user, asset=asset)
    alias = alias_clean(alias)
    with transaction.atomic():
        row, created = AssetAlias.objects.select_for_update().get_or_create(
            scope_key=asset.scope_key,
            kind=asset.kind,
            name=asset.name,
            alias=alias,
            defaults={"asset": asset, "workspace_id": asset.workspace_id, "updated_by": user},
        )
        previous = None if created or row.asset_id == asset.pk else row.asset_id
        if previous is not None:
            row.asset, row.updated_by = asset, user
            row.save(update_fields=["asset", "updated_by", "updated_at"])
        if created or previous is not None:
            AuditEvent.objects.record(
                action=AuditAction.ALIAS_SET if created else AuditAction.ALIAS_MOVE,
                actor=user,
                workspace=asset.workspace,
                obj=asset,
                details={"alias": alias, "name": asset.name, "version": asset.version, "previous_asset": previous},
            )
    return row, previous


def asset_edit(
    *, user: AbstractBaseUser, asset: Asset, tags: list[str] | None = None, description: str | None = None
) -> Asset:
    """Replace the tags and/or description of one asset version; ``search_text`` follows.

    Raises ``ValidationError`` (bad tags, description too long or with NUL),
    ``PermissionDenied`` (viewers, imported assets). Side effects: one UPDATE.
    """
    _require_editable(user=user, asset=asset)
    new_tags = asset.tags if tags is None else _clean_tags(tags)
    new_description = asset.description if description is None else description
    if (
        not isinstance(new_description, str)
        or len(new_description) > DESCRIPTION_MAX_CHARS
        or "\x00" in new_description
    ):
        raise ValidationError({"description": f"At most {DESCRIPTION_MAX_CHARS} characters, no NUL."})
    old_prefix = _search_text(name=asset.name, tags=asset.tags, description=asset.description, metadata=asset.metadata)
    extra = asset.search_text[len(old_prefix) :].strip() if asset.search_text.startswith(old_prefix) else ""
    search_text = _search_text(
        name=asset.name, tags=new_tags, description=new_description, metadata=asset.metadata, extra=extra
    )
    Asset.objects.filter(pk=asset.pk).update(tags=new_tags, description=new_description, search_text=search_text)
    asset.tags, asset.description, asset.search_text = new_tags, new_description, search_text
    return asset
