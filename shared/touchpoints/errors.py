"""Domain errors. Each carries a stable machine-readable code and the HTTP status it maps to.

Messages never include the offending value: values may be personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldProblem:
    loc: tuple[str | int, ...]
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "code": self.code, "message": self.message}


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    retryable: ClassVar[bool] = False

    def __init__(
        self, message: str, problems: Sequence[FieldProblem] = (), context: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)
        self.context = context or {}  # extra top-level members of the error body, e.g. what was stored


class InvalidTouchpoint(DomainError):
    status, code = 422, "invalid_touchpoint"


class MalformedJson(DomainError):
    status, code = 400, "malformed_json"


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported_media_type"


class PayloadTooLarge(DomainError):
    status, code = 413, "payload_too_large"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class SubjectErased(DomainError):
    """The touchpoint names a person who asked to be erased and is suppressed."""

    status, code = 409, "subject_erased"


class ProfileTooLarge(DomainError):
    """DynamoDB refused an item over its size limit: retrying the same write can never succeed."""

    status, code = 422, "profile_too_large"


class NotFound(DomainError):
    status, code = 404, "not_found"


class RetryableError(DomainError):
    status, retryable = 503, True


class EncryptionUnavailable(RetryableError):
    code = "encryption_unavailable"


class TokenizationUnavailable(RetryableError):
    code = "tokenization_unavailable"


class StorageUnavailable(RetryableError):
    code = "storage_unavailable"


class WriteKeyUnavailable(RetryableError):
    code = "write_key_unavailable"


class ConcurrentUpdate(RetryableError):
    code = "concurrent_update"


class StaleSubject(Exception):
    """Internal: what a container cached about a subject is out of date; resolve again."""


class DuplicateTouchpoint(Exception):
    """Internal: this channel's event id is already stored for the subject."""
