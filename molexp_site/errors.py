"""Exceptions shared by the services of both apps and mapped by the API to HTTP codes."""


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
