"""Errors the domain raises. Each carries the exit code the CLI turns it into.

Exit codes (DESIGN §8): 0 ok, 1 refused or invalid, 2 usage, 3 lost a race or claimed by another.
"""

from __future__ import annotations


class FlowError(Exception):
    """A refusal or an invalid input: one line of message, an optional hint, exit code 1."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details


class UsageError(FlowError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2


class ConflictError(FlowError):
    """A race was lost or another actor holds the claim (exit 3)."""

    exit_code = 3


class NotFoundError(FlowError):
    """An ID or path that names nothing."""
