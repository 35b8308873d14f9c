"""``Authorization: Token …`` for DRF's tokens and scoped tokens (SPEC §13).

A key starting ``mx_`` is a scoped token (``runs_app.services.tokens``): the user
gets ``molexp_token_scope = (workspace_id, max_role)``, which the access rules
(``runs_app/access.py``: ``visible_workspace_ids``, ``workspace_role``) apply, so every
endpoint honours it. Any other key is DRF's
unscoped token, as before. (Kept free of view imports: DRF loads it from settings.)
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

SCOPED_PREFIX = "mx_"


class ScopedTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        if not key.startswith(SCOPED_PREFIX):
            return super().authenticate_credentials(key)
        from ..services.tokens import scoped_token_authenticate

        found = scoped_token_authenticate(key)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        user, token = found
        user.molexp_token_scope = (token.workspace_id, token.max_role)
        return user, token
