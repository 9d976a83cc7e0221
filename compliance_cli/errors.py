"""What can go wrong for an operator, each with its own exit code, so scripts can tell the cases apart."""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # anything not listed below (an unexpected answer, a failed request)
    USAGE = 2  # argparse's own
    FORBIDDEN = 3  # signed, but not as the compliance operator role
    NOT_FOUND = 4  # no such person or request
    AMBIGUOUS = 5  # the identifiers belong to two different people
    CREDENTIALS_EXPIRED = 6
    DEADLINE_PASSED = 7
    UNAVAILABLE = 8  # the service or one of its dependencies; retry later
    CONFLICT = 9  # the person is being erased or suppressed, an identifier is someone else's
    REFUSED_INPUT = 10  # the API refused the request as invalid (422, 400)
    FILE_EXISTS = 11  # the output file is there and --force was not given
    NO_CREDENTIALS = 12  # no credentials, MFA refused, the role cannot be assumed


class ToolError(Exception):
    """A failure the operator can act on: the message says what happened and what to do."""

    exit_code: ClassVar[Exit] = Exit.FAILED

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # the API's error.code, when there is one


class Forbidden(ToolError):
    exit_code = Exit.FORBIDDEN


class NotFound(ToolError):
    exit_code = Exit.NOT_FOUND


class Ambiguous(ToolError):
    exit_code = Exit.AMBIGUOUS


class CredentialsExpired(ToolError):
    exit_code = Exit.CREDENTIALS_EXPIRED


class DeadlinePassed(ToolError):
    exit_code = Exit.DEADLINE_PASSED


class Unavailable(ToolError):
    exit_code = Exit.UNAVAILABLE


class Conflict(ToolError):
    exit_code = Exit.CONFLICT


class RefusedInput(ToolError):
    exit_code = Exit.REFUSED_INPUT


class FileExists(ToolError):
    exit_code = Exit.FILE_EXISTS


class NoCredentials(ToolError):
    exit_code = Exit.NO_CREDENTIALS
