"""Shared helpers of the management commands (thin adapters over services)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def command_user(username: str):
    """The named user, or the first superuser: commands act as someone, so services check permissions."""
    User = get_user_model()
    if username:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}")
        return user
    user = User.objects.filter(is_superuser=True).order_by("pk").first()
    if user is None:
        raise CommandError("No superuser exists; pass --user")
    return user
