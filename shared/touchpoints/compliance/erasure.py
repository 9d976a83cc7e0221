"""Erasure: accepted at once, carried out step by step by a worker, resumable after a crash.

Order matters. The profile is frozen first (ingestion refuses the subject from then on, so
no half-profile can be written behind the eraser), the identifiers are turned into
suppression markers (the person cannot be re-created from them), the data key is destroyed
(crypto-shredding: every ciphertext of the person, in the table, its stream and its
backups, becomes unreadable at once), then the partition is deleted page by page. The
request records the next step and its counts after each page, so a re-delivered message
resumes where the last run stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from touchpoints.compliance.model import (
    AuditEntry,
    ComplianceRequest,
    ErasureStep,
    RequestKind,
    RequestState,
    StepRecord,
    new_request_id,
)
from touchpoints.compliance.policy import CompliancePolicy, Regulation

WORKER = "erasure-worker"


class RequestStore(Protocol):
    def create(self, request: ComplianceRequest) -> None: ...

    def get(self, request_id: str) -> ComplianceRequest | None: ...

    def save(self, request: ComplianceRequest) -> bool:
        """Store `request` if the stored revision is the one before it; False when another run got there first."""
        ...


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...


class ErasureQueue(Protocol):
    def send(self, request_id: str) -> None: ...


class SubjectEraser(Protocol):
    """The profile table and key vault, seen by the eraser. Every operation is idempotent."""

    def owners(self, tokens: Collection[str]) -> set[str]:
        """Subject ids that currently own any of these tokens."""
        ...

    def survivor_of(self, subject_id: str) -> str | None:
        """The active profile a merged-away subject's tombstone leads to (itself when active); None otherwise."""
        ...

    def freeze(self, subject_id: str, request_id: str, now: datetime) -> tuple[str, ...] | None:
        """Mark the profile as being erased; its tokens, or None when there is no profile (or it was merged away)."""
        ...

    def suppress(self, tokens: Collection[str], subject_id: str | None, request_id: str, now: datetime) -> int: ...

    def release(self, tokens: Collection[str], subject_id: str) -> int: ...

    def destroy_key(self, subject_id: str) -> bool: ...

    def purge(self, subject_id: str, page_size: int) -> Iterator[int]:
        """Delete the subject's partition, profile item last; yields the items deleted by each page."""
        ...


@dataclass(frozen=True, slots=True)
class ErasureOrder:
    """A validated erasure request, with identifiers already tokenized."""

    regulation: Regulation
    case_reference: str
    subject_id: str | None
    tokens: tuple[str, ...]
    suppress: bool


class ErasureService:
    def __init__(
        self,
        requests: RequestStore,
        audit: AuditLog,
        policy: CompliancePolicy,
        *,
        queue: ErasureQueue | None = None,
        eraser: SubjectEraser | None = None,
        page_size: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lineage: Callable[[Collection[str]], tuple[str, ...]] = tuple,
    ) -> None:
        self._requests = requests
        self._audit = audit
        self._policy = policy
        self._queue = queue
        self._eraser = eraser
        self._page_size = page_size or policy.erasure.page_size
        self._clock = clock
        # A token recorded before a secret rotation, with its successors: suppressed and released in every version.
        self._lineage = lineage

    def submit(self, order: ErasureOrder, actor: str) -> ComplianceRequest:
        """Record the request and queue it; the caller answers 202 with its id."""
        assert self._queue is not None
        now = self._clock()
        request = ComplianceRequest(
            request_id=new_request_id(),
            kind=RequestKind.ERASURE,
            regulation=order.regulation,
            case_reference=order.case_reference,
            requested_by=actor,
            received_at=now,
            deadline=self._policy.deadline(order.regulation, now.date()),
            state=RequestState.RECEIVED,
            updated_at=now,
            subject_id=order.subject_id,
            tokens=order.tokens,
            suppress=order.suppress,
            step=ErasureStep.FREEZE,
        )
        self._requests.create(request)
        self._audit.record(AuditEntry.of(request, "erasure.received", actor, now))
        self._queue.send(request.request_id)
        return request

    def run(self, request_id: str, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Carry the erasure forward from its recorded step. False: stopped early, run again to finish."""
        assert self._eraser is not None
        request = self._requests.get(request_id)
        if request is None or request.state is RequestState.COMPLETED:
            return True
        if request.state is not RequestState.IN_PROGRESS:
            resumed = request.state is RequestState.FAILED
            request = self._save(request.advance(self._clock(), state=RequestState.IN_PROGRESS, failure=None))
            self._audit.record(
                AuditEntry.of(request, "erasure.resumed" if resumed else "erasure.started", WORKER, self._clock())
            )
        while request.step is not ErasureStep.DONE:
            request = self._step(request)
            if request.step is ErasureStep.PURGE:
                request = self._purge(request, should_stop)
                if request.step is ErasureStep.PURGE:
                    return False
        return True

    def fail(self, request_id: str, reason: str) -> None:
        """Record that retries are exhausted; the message goes to the dead-letter queue and may be redriven."""
        request = self._requests.get(request_id)
        if request is None or request.state is RequestState.COMPLETED:
            return
        request = self._save(request.advance(self._clock(), state=RequestState.FAILED, failure=reason))
        self._audit.record(AuditEntry.of(request, "erasure.failed", WORKER, self._clock(), outcome=reason))

    def _step(self, request: ComplianceRequest) -> ComplianceRequest:
        assert self._eraser is not None
        now = self._clock()
        if request.step is ErasureStep.FREEZE:
            subject_id = request.subject_id
            if subject_id is None:
                # Named by identifiers nobody held at submission: someone may hold them by now.
                owners = self._eraser.owners(self._lineage(request.tokens))
                subject_id = min(owners) if len(owners) == 1 else None
            tokens = None
            # A merged-away profile is a tombstone: the person is the survivor now, and the whole of it is erased.
            for _ in range(3):
                if subject_id is None:
                    break
                subject_id = self._eraser.survivor_of(subject_id) or subject_id
                tokens = self._eraser.freeze(subject_id, request.request_id, now)
                if tokens is not None or self._eraser.survivor_of(subject_id) in (None, subject_id):
                    break
            all_tokens = self._lineage(tuple(dict.fromkeys((*request.tokens, *(tokens or ())))))
            counts = {"profiles_frozen": int(tokens is not None)}
            request = self._save(
                request.advance(
                    now,
                    step=ErasureStep.SUPPRESS,
                    subject_id=subject_id,
                    tokens=all_tokens,
                    steps=(*request.steps, StepRecord(ErasureStep.FREEZE, now, counts)),
                )
            )
            self._audit.record(AuditEntry.of(request, "erasure.frozen", WORKER, now, counts=counts))
        elif request.step is ErasureStep.SUPPRESS:
            if request.suppress:
                name = "tokens_suppressed"
                tokens = self._lineage(request.tokens)  # a rotation may have begun since the freeze
                done = self._eraser.suppress(tokens, request.subject_id, request.request_id, now)
            else:
                name = "tokens_released"
                tokens = self._lineage(request.tokens)
                done = self._eraser.release(tokens, request.subject_id) if request.subject_id else 0
            request = self._save(
                request.advance(
                    now,
                    step=ErasureStep.SHRED,
                    counts=request.count(name, done),
                    steps=(*request.steps, StepRecord(ErasureStep.SUPPRESS, now, {name: done})),
                )
            )
            self._audit.record(AuditEntry.of(request, f"erasure.{name}", WORKER, now, counts={name: done}))
        elif request.step is ErasureStep.SHRED:
            destroyed = int(self._eraser.destroy_key(request.subject_id)) if request.subject_id else 0
            request = self._save(
                request.advance(
                    now,
                    step=ErasureStep.PURGE,
                    counts=request.count("keys_destroyed", destroyed),
                    steps=(*request.steps, StepRecord(ErasureStep.SHRED, now, {"keys_destroyed": destroyed})),
                )
            )
            self._audit.record(
                AuditEntry.of(request, "erasure.key_destroyed", WORKER, now, counts={"keys_destroyed": destroyed})
            )
        return request

    def _purge(self, request: ComplianceRequest, should_stop: Callable[[], bool]) -> ComplianceRequest:
        assert self._eraser is not None
        if request.subject_id:
            for deleted in self._eraser.purge(request.subject_id, self._page_size):
                request = self._save(request.advance(self._clock(), counts=request.count("items_deleted", deleted)))
                if should_stop():
                    return request
        now = self._clock()
        purged = StepRecord(ErasureStep.PURGE, now, {"items_deleted": request.counts.get("items_deleted", 0)})
        done = request.advance(
            now,
            step=ErasureStep.DONE,
            state=RequestState.COMPLETED,
            completed_at=now,
            steps=(*request.steps, purged),
        )
        if not request.keeps_tokens:
            done = replace(done, tokens=(), counts={**done.counts, "identifiers": len(request.tokens)})
        request = self._save(done)
        self._audit.record(AuditEntry.of(request, "erasure.completed", WORKER, now, counts=request.counts))
        return request

    def _save(self, request: ComplianceRequest) -> ComplianceRequest:
        if not self._requests.save(request):
            raise ErasureSuperseded(request.request_id)
        return request


class ErasureSuperseded(Exception):
    """Another delivery of the same request advanced it first; this run stops quietly."""
