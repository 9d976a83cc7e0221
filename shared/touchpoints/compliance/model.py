"""Data-subject requests, their lifecycle, and the audit entries they leave.

Nothing here holds a personal value: a request names its subject by subject id and keyed
tokens, and the requester by the compliance case reference and the caller's IAM ARN.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from touchpoints.compliance.policy import Regulation
from touchpoints.errors import DomainError, RetryableError


class RequestKind(StrEnum):
    ERASURE = "erasure"
    EXPORT = "export"
    RECTIFICATION = "rectification"
    OBJECTION = "objection"
    SUPPRESSION_LIFT = "suppression_lift"


class RequestState(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class ErasureStep(StrEnum):
    """Erasure runs these in order; the request records the next one, so a crash resumes there."""

    FREEZE = "freeze"  # profile status -> erasing: ingestion refuses the subject from now on
    SUPPRESS = "suppress"  # token index -> suppression markers (or released)
    SHRED = "shred"  # the subject's data key is deleted: every ciphertext, every copy, is unreadable
    PURGE = "purge"  # every item of the subject's partition, in pages
    DONE = "done"


class NotAnErasure(DomainError):
    status, code = 409, "not_an_erasure"


class RequestNotCompleted(DomainError):
    status, code = 409, "request_not_completed"


class SubjectNotFound(DomainError):
    status, code = 404, "subject_not_found"


class RequestNotFound(DomainError):
    status, code = 404, "request_not_found"


class AmbiguousSubject(DomainError):
    """The identifiers name different profiles: compliance must file one request per profile."""

    status, code = 409, "ambiguous_subject"


class IdentifiersRequired(DomainError):
    """A suppression is held per identifier: a subject id alone does not say which to lift."""

    status, code = 422, "identifiers_required"


class IdentifierInUse(DomainError):
    status, code = 409, "identifier_in_use"


class DataUnreadable(DomainError):
    """A stored value does not decrypt under the subject's key: it was damaged or moved; nothing is handed out."""

    status, code = 409, "data_unreadable"


class SubjectBeingErased(DomainError):
    status, code = 409, "subject_erased"


class ExportStorageUnavailable(RetryableError):
    """A large export could not be written to (or linked in) the export bucket: nothing was delivered."""

    code = "export_storage_unavailable"


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One erasure step done: when it finished and what it counted (for the certificate)."""

    step: ErasureStep
    at: datetime
    counts: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step.value, "at": self.at.isoformat(), "counts": dict(self.counts)}


def new_request_id() -> str:
    return f"dsr_{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class ComplianceRequest:
    request_id: str
    kind: RequestKind
    regulation: Regulation
    case_reference: str
    requested_by: str  # the caller's IAM ARN
    received_at: datetime
    deadline: date
    state: RequestState
    updated_at: datetime
    subject_id: str | None = None
    tokens: tuple[str, ...] = ()
    suppress: bool = True
    step: ErasureStep | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    completed_at: datetime | None = None
    failure: str | None = None
    revision: int = 0  # optimistic lock: two deliveries of one message never both advance it
    steps: tuple[StepRecord, ...] = ()  # erasure steps done, in order

    def advance(self, now: datetime, **changes: Any) -> ComplianceRequest:
        return replace(self, updated_at=now, revision=self.revision + 1, **changes)

    @property
    def keeps_tokens(self) -> bool:
        """An erasure without suppression leaves nothing that could find the person again, its own records included."""
        return not (self.kind is RequestKind.ERASURE and not self.suppress)

    def count(self, name: str, added: int) -> dict[str, int]:
        return {**self.counts, name: self.counts.get(name, 0) + added}

    def status(self) -> dict[str, Any]:
        """What GET /requests/{id} answers: no personal value, only ids, tokens' count and times."""
        return {
            "request_id": self.request_id,
            "kind": self.kind.value,
            "regulation": self.regulation.value,
            "case_reference": self.case_reference,
            "state": self.state.value,
            "step": self.step.value if self.step else None,
            "subject_id": self.subject_id,
            "identifiers": self.counts.get("identifiers", len(self.tokens)),
            "suppress": self.suppress if self.kind is RequestKind.ERASURE else None,
            "received_at": self.received_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "deadline": self.deadline.isoformat(),
            "counts": dict(self.counts),
            "failure": self.failure,
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit trail: who did what, when, to which subject (by id and tokens), how much."""

    request_id: str
    action: str
    actor: str
    at: datetime
    kind: RequestKind
    regulation: Regulation
    subject_id: str | None = None
    tokens: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    outcome: str = "ok"

    @classmethod
    def of(cls, request: ComplianceRequest, action: str, actor: str, at: datetime, **extra: Any) -> AuditEntry:
        return cls(
            request_id=request.request_id,
            action=action,
            actor=actor,
            at=at,
            kind=request.kind,
            regulation=request.regulation,
            subject_id=request.subject_id,
            tokens=request.tokens if request.keeps_tokens else (),
            **extra,
        )
