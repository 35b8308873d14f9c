"""Exceptions shared by the services of both apps and mapped by the API to HTTP codes."""

from django.core.exceptions import ValidationError


class Conflict(Exception):
    """The request is well-formed but conflicts with the current state (HTTP 409)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IllegalTransition(Conflict):
    """A status change that the state machine does not allow (or that lost a race)."""


class TooManyRequests(Exception):
    """The request is valid but the caller has used up a quota (HTTP 429): too many queued runs."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class QuotaExceeded(ValidationError):
    """New bytes would take a workspace past its ``storage_quota_bytes`` (SPEC §14).

    A ``ValidationError``, so forms and the API answer a clear 400 with the message; tus
    creation answers 413; a task that hits it fails with this type
    (``runs_app.workflow.errors.QuotaExceeded`` is this class).
    """
