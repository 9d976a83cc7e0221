"""Access, rectification and objection: carried out at once, each leaving a request record and audit lines."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from touchpoints.compliance.erasure import AuditLog, RequestStore
from touchpoints.compliance.export import ExportDelivery, export_document
from touchpoints.compliance.model import (
    AmbiguousSubject,
    AuditEntry,
    ComplianceRequest,
    DataUnreadable,
    IdentifierInUse,
    IdentifiersRequired,
    RequestKind,
    RequestState,
    SubjectBeingErased,
    SubjectNotFound,
    new_request_id,
)
from touchpoints.compliance.policy import CompliancePolicy, Regulation
from touchpoints.compliance.records import Rectification, StoredProfile, StoredSubject, Withdrawal
from touchpoints.consent import ConsentPolicy, ConsentRecord
from touchpoints.errors import ConcurrentUpdate, DomainError, FieldProblem, InvalidTouchpoint, StaleSubject
from touchpoints.identity.subject import TokenRecord
from touchpoints.ingestion import sealed_consents
from touchpoints.model import ALL_CHANNELS, IdentifierKind, PersonalField
from touchpoints.privacy.cipher import DecryptionFailed
from touchpoints.privacy.keyring import SubjectKeyring
from touchpoints.privacy.tokenizer import Tokenizer, token_kind
from touchpoints.trust import TrustPolicy, load_trust_policy

ACTIVE = "active"
SOURCE = "compliance"
_MAX_ATTEMPTS = 3

# A corrected field that is also an identifier moves the person's token with it.
IDENTIFYING_FIELDS: Mapping[PersonalField, IdentifierKind] = {
    f: IdentifierKind(f.value) for f in PersonalField if f.value in IdentifierKind._value2member_map_
}


class TokenDirectory(Protocol):
    def find_tokens(self, tokens: Collection[str]) -> dict[str, TokenRecord]: ...

    def survivor_of(self, subject_id: str) -> str | None:
        """The active profile a merged-away subject's tombstone leads to (itself when active)."""
        ...


class SubjectRecords(Protocol):
    def load_profile(self, subject_id: str) -> tuple[StoredProfile, bytes] | None:
        """The profile and its wrapped data key; None when either is gone."""
        ...

    def load_subject(self, subject_id: str) -> StoredSubject | None: ...

    def rectify(self, change: Rectification) -> None:
        """Atomic; raises IdentifierInUse when a new token was claimed meanwhile, StaleSubject if not active."""
        ...

    def lift_suppression(self, tokens: Collection[str]) -> int:
        """Remove the suppression markers of these tokens; a token a person holds is left alone. How many went."""
        ...

    def withdraw(self, change: Withdrawal) -> None:
        """Atomic; raises StaleSubject when the consents changed since they were read."""
        ...


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """How a request names a person: a subject id, identifiers (normalized values), or both."""

    subject_id: str | None
    identifiers: Mapping[IdentifierKind, str]


@dataclass(frozen=True, slots=True)
class RequestMeta:
    regulation: Regulation
    case_reference: str
    actor: str


class SubjectRights:
    def __init__(
        self,
        directory: TokenDirectory,
        records: SubjectRecords,
        keyring: SubjectKeyring,
        tokenizer: Callable[[], Tokenizer],
        requests: RequestStore,
        audit: AuditLog,
        policy: CompliancePolicy,
        consent_policy: ConsentPolicy,
        export_delivery: ExportDelivery,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        trust: TrustPolicy | None = None,
    ) -> None:
        self._directory = directory
        self._records = records
        self._keyring = keyring
        self._tokenizer = tokenizer
        self._requests = requests
        self._audit = audit
        self._policy = policy
        self._consent_policy = consent_policy
        self._export_delivery = export_delivery
        self._clock = clock
        self._trust = trust or load_trust_policy()

    def locate(self, ref: SubjectRef) -> tuple[str | None, tuple[str, ...]]:
        """The one subject these identifiers belong to (None if nobody holds them) and their tokens.

        Identifiers of different profiles are refused: a request is about one person, and
        a merged-away profile stands for its survivor. Suppressed identifiers (an erased person) own nothing.
        """
        tokenizer = self._tokenizer()
        # Both versions during a secret rotation: the person may be held in either, and both are erased.
        tokens = tuple(t for kind, value in ref.identifiers.items() for t in tokenizer.tokens(kind, value))
        owners = {r.subject_id for r in self._directory.find_tokens(tokens).values() if r.subject_id}
        if ref.subject_id:
            owners.add(ref.subject_id)
        # Identifiers of a merged-away profile, or its id, name the survivor: one person now.
        owners = {self._directory.survivor_of(owner) or owner for owner in owners}
        if len(owners) > 1:
            raise AmbiguousSubject("these identifiers belong to different profiles; file one request per profile")
        return (owners.pop() if owners else None), tokens

    def export(self, ref: SubjectRef, meta: RequestMeta) -> dict[str, Any]:
        """Everything held about the person, decrypted, never logged: returned inline when small, else
        stored (encrypted, expiring) in the export store and answered with a short-lived link to it."""
        request = self._open(RequestKind.EXPORT, ref, meta)
        try:
            subject = self._records.load_subject(self._subject_of(request))
            if subject is None:
                raise SubjectNotFound("no profile is held for this person")
            self._check_active(subject.profile)
            cipher = self._keyring.cipher_from_wrapped(subject.profile.subject_id, subject.wrapped_key)
            try:
                document = export_document(
                    subject,
                    cipher,
                    request_id=request.request_id,
                    regulation=meta.regulation,
                    generated_at=self._clock(),
                )
            except DecryptionFailed:
                raise DataUnreadable(
                    "some of the person's stored data does not decrypt; nothing was exported"
                ) from None
            delivery = self._export_delivery.deliver(document)
        except DomainError as error:
            self._close(request, meta.actor, error=error)
            raise
        counts = {
            "fields": len(subject.profile.fields),
            "interactions": len(subject.events),
            "consents": len(subject.profile.consents),
            "consent_changes": len(document["consent_history"]),
            "bytes": delivery.size,
            "objects_stored": int(delivery.stored),
        }
        self._close(request, meta.actor, counts=counts)
        return delivery.answer

    def rectify(self, ref: SubjectRef, corrections: Mapping[PersonalField, str], meta: RequestMeta) -> dict[str, Any]:
        """Replace stored values with corrected ones; identifiers move their token (old released, new claimed)."""
        request = self._open(RequestKind.RECTIFICATION, ref, meta)
        try:
            change = self._rectify(request, self._subject_of(request), corrections)
        except DomainError as error:
            self._close(request, meta.actor, error=error)
            raise
        counts = {
            "fields_corrected": len(change.fields),
            "tokens_released": len(change.release_tokens),
            "tokens_claimed": len(change.claim_tokens),
        }
        request = self._close(request, meta.actor, counts=counts, tokens=change.claim_tokens)
        return {**request.status(), "fields_corrected": sorted(change.fields)}

    def object(self, ref: SubjectRef, objections: Sequence[tuple[str, str]], meta: RequestMeta) -> dict[str, Any]:
        """Withdraw consent to (purpose, channel or "all"); the next touchpoint on any channel honours it."""
        self._check_purposes(objections)
        request = self._open(RequestKind.OBJECTION, ref, meta)
        try:
            subject_id = self._subject_of(request)
            withdrawn = self._withdraw(request, subject_id, objections)
        except DomainError as error:
            self._close(request, meta.actor, error=error)
            raise
        request = self._close(request, meta.actor, counts={"consents_withdrawn": len(withdrawn)})
        return {**request.status(), "withdrawn": sorted(withdrawn)}

    def lift_suppression(self, ref: SubjectRef, meta: RequestMeta) -> dict[str, Any]:
        """Let identifiers of an erased person be used again: their next touchpoint starts a new profile.

        For a person who comes back and asks to be a customer again, on a documented case. Only
        suppression markers are removed; an identifier someone holds is not touched.
        """
        if not ref.identifiers:
            raise IdentifiersRequired("name the identifiers whose suppression is lifted")
        request = self._open(RequestKind.SUPPRESSION_LIFT, ref, meta)
        tokenizer = self._tokenizer()
        # A suppression holds for a value under every kind that shares it, so it is lifted under all of them;
        # a phone and a WhatsApp naming one number are both lifted by the first.
        processed: set[str] = set()
        lifted_values: set[str] = set()
        lifted = 0
        for kind, value in ref.identifiers.items():
            group = set(self._trust.value_tokens(tokenizer, kind, value))
            fresh = group - processed
            processed |= group
            if fresh and self._records.lift_suppression(sorted(fresh)) > 0:
                lifted_values |= group
            lifted += bool(group & lifted_values)
        counts = {"suppressions_lifted": lifted, "not_suppressed": len(ref.identifiers) - lifted}
        return self._close(request, meta.actor, counts=counts).status()

    def _withdraw(
        self, request: ComplianceRequest, subject_id: str, objections: Sequence[tuple[str, str]]
    ) -> list[str]:
        for _ in range(_MAX_ATTEMPTS):
            loaded = self._records.load_profile(subject_id)
            if loaded is None:
                raise SubjectNotFound("no profile is held for this person")
            profile, wrapped = loaded
            self._check_active(profile)
            cipher = self._keyring.cipher_from_wrapped(subject_id, wrapped)
            now = self._clock()
            keys: set[str] = set()
            for purpose, scope in objections:
                keys.add(f"{purpose}:{scope}")
                if scope == ALL_CHANNELS:
                    # A channel's own answer overrides "all": withdrawing everywhere must reach those too.
                    keys.update(k for k in profile.consents if k.startswith(f"{purpose}:"))
            record = ConsentRecord(False, now, SOURCE, self._consent_policy.version)
            change = Withdrawal(
                subject_id,
                dict.fromkeys(keys, record),
                profile.consent_version,
                request.request_id,
                now,
                history=(sealed_consents(cipher, dict.fromkeys(sorted(keys), record), request.request_id),),
            )
            try:
                self._records.withdraw(change)
            except StaleSubject:
                continue
            return sorted(keys)
        raise ConcurrentUpdate("the profile kept changing; retry the objection")

    def _rectify(
        self, request: ComplianceRequest, subject_id: str, corrections: Mapping[PersonalField, str]
    ) -> Rectification:
        for _ in range(_MAX_ATTEMPTS):
            loaded = self._records.load_profile(subject_id)
            if loaded is None:
                raise SubjectNotFound("no profile is held for this person")
            profile, wrapped = loaded
            self._check_active(profile)
            change = self._plan_rectification(request, profile, wrapped, corrections)
            self._check_claims(change.claim_tokens, subject_id)
            try:
                self._records.rectify(change)
            except StaleSubject:
                continue  # a touchpoint or the eraser wrote meanwhile: read again
            return change
        raise ConcurrentUpdate("the profile kept changing; retry the rectification")

    def _plan_rectification(
        self,
        request: ComplianceRequest,
        profile: StoredProfile,
        wrapped: bytes,
        corrections: Mapping[PersonalField, str],
    ) -> Rectification:
        cipher = self._keyring.cipher_from_wrapped(profile.subject_id, wrapped)
        tokenizer = self._tokenizer()
        fields: dict[str, bytes] = {}
        release: list[str] = []
        claim: list[str] = []
        for name, value in corrections.items():
            fields[name.value] = cipher.encrypt(name.value, value)
            kind = IDENTIFYING_FIELDS.get(name)
            if kind is None:
                continue
            new_token = tokenizer.token(kind, value)
            # Every identifier of the kind goes, not only the one stored in the field: a person may have used
            # several emails, and a value that no longer decrypts must not keep finding them.
            release.extend(t for t in profile.tokens if token_kind(t) == kind.value and t != new_token)
            if new_token not in profile.tokens:
                claim.append(new_token)
        return Rectification(
            profile.subject_id,
            fields,
            tuple(release),
            tuple(claim),
            profile.version,
            request.request_id,
            self._clock(),
        )

    def _check_claims(self, tokens: Collection[str], subject_id: str) -> None:
        for record in self._directory.find_tokens(tokens).values():
            if record.suppressed:
                raise IdentifierInUse("a corrected identifier belongs to an erased person and is suppressed")
            if record.subject_id and record.subject_id != subject_id:
                raise IdentifierInUse("a corrected identifier belongs to another profile; profiles are not merged")

    def _check_purposes(self, objections: Sequence[tuple[str, str]]) -> None:
        purposes = self._consent_policy.purposes
        problems = [
            FieldProblem(("objections", i, "purpose"), "not_objectable", "purpose is unknown or rests on a contract")
            for i, (purpose, _) in enumerate(objections)
            if purpose not in purposes or purposes[purpose].implied
        ]
        if problems:
            raise InvalidTouchpoint("some objections cannot be applied", problems)

    def _check_active(self, profile: StoredProfile) -> None:
        if profile.status != ACTIVE:
            raise SubjectBeingErased("the profile is being erased")

    def _subject_of(self, request: ComplianceRequest) -> str:
        if request.subject_id is None:
            raise SubjectNotFound("no profile is held for this person")
        return request.subject_id

    def _open(self, kind: RequestKind, ref: SubjectRef, meta: RequestMeta) -> ComplianceRequest:
        subject_id, tokens = self.locate(ref)
        now = self._clock()
        request = ComplianceRequest(
            request_id=new_request_id(),
            kind=kind,
            regulation=meta.regulation,
            case_reference=meta.case_reference,
            requested_by=meta.actor,
            received_at=now,
            deadline=self._policy.deadline(meta.regulation, now.date()),
            state=RequestState.IN_PROGRESS,
            updated_at=now,
            subject_id=subject_id,
            tokens=tokens,
        )
        self._requests.create(request)
        self._audit.record(AuditEntry.of(request, f"{kind.value}.received", meta.actor, now))
        return request

    def _close(
        self,
        request: ComplianceRequest,
        actor: str,
        *,
        counts: Mapping[str, int] | None = None,
        tokens: tuple[str, ...] = (),
        error: DomainError | None = None,
    ) -> ComplianceRequest:
        now = self._clock()
        state = RequestState.FAILED if error else RequestState.COMPLETED
        request = request.advance(
            now,
            state=state,
            completed_at=now,
            counts=dict(counts or {}),
            failure=error.code if error else None,
            tokens=tuple(dict.fromkeys((*request.tokens, *tokens))),
        )
        self._requests.save(request)
        action = f"{request.kind.value}.{'failed' if error else 'completed'}"
        self._audit.record(
            AuditEntry.of(request, action, actor, now, counts=request.counts, outcome=error.code if error else "ok")
        )
        return request
