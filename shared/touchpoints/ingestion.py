"""The ingestion pipeline: prepare → place → plan → seal → write.

Prepare checks what needs no storage (identifiers, declared consents, vouches) and tokenizes; place asks identity
placement (`touchpoints.identity.placement`) which profile the touchpoint lands on; plan applies the consent policy
and what placement allows; seal encrypts every personal value under the subject's key; write stores it all in one
atomic write. Pure domain logic: storage and KMS are reached only through the ports below, so the pipeline runs in
unit tests without AWS and in Lambda with DynamoDB adapters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from touchpoints.consent import ConsentPolicy, ConsentRecord, StoragePlan, TraceMode, check_declared, plan_storage
from touchpoints.errors import (
    ConcurrentUpdate,
    DuplicateTouchpoint,
    FieldProblem,
    InvalidTouchpoint,
    RetryableError,
    StaleSubject,
    StorageUnavailable,
    SubjectErased,
)
from touchpoints.identity.placement import IdentityPlacement, OwnerDirectory, Placement
from touchpoints.identity.policy import IdentityPolicy, load_identity_policy
from touchpoints.identity.resolution import IdentityDecision, IdentityOutcome, LinkGuard
from touchpoints.identity.subject import PreparedTouchpoint
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.model import ConsentGrant, IdentifierKind, Touchpoint, TraceKind
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.privacy.keyring import NewDataKey, SubjectKeyring
from touchpoints.privacy.tokenizer import Tokenizer
from touchpoints.trust import TrustPolicy, load_trust_policy

_MAX_ATTEMPTS = 4
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class EncryptedField:
    ciphertext: bytes
    confirmed_at: datetime
    channel: str
    # From a private channel, a touchpoint that proved whose it is, or vouched for this very value
    verified: bool = False


@dataclass(frozen=True, slots=True)
class SealedItem:
    """An item of the subject's partition that only its key opens: a keyed-digest sort key and the sealed content."""

    sort_key: str
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class TraceRecord:
    kind: TraceKind
    action: str
    occurred_at: datetime
    minimized: bool
    details: bytes | None
    expires_at: int


@dataclass(frozen=True, slots=True)
class ProfileWrite:
    """Everything one touchpoint changes, ready for one atomic write."""

    subject_id: str
    channel: str
    event_id: str
    written_at: datetime
    fields: Mapping[str, EncryptedField]
    claim_tokens: tuple[str, ...]
    all_tokens: tuple[str, ...]
    consents: Mapping[str, ConsentRecord]  # changed answers: a new consent version, and one history item
    trace: TraceRecord | None
    event: SealedItem  # what the touchpoint was (items.event)
    consent_history: tuple[SealedItem, ...]  # the changed answers together, when there are any (items.consent)
    new_subject_key: bytes | None = None  # wrapped key: set only when the subject is created
    expected_consent_version: int = 0
    # Set last_trace_at to this trace's time: only when the subject's snapshot holds an earlier one (or none). The
    # store conditions the move on the stored time being no later; a touchpoint older than the snapshot's time is
    # written without touching it (the stored time only moves forward), in one transaction.
    advance_last_trace: bool = True
    # Per kind claimed: how many tokens of it the subject may hold; the store conditions the claim on it.
    link_limits: Mapping[str, int] = field(default_factory=dict)
    # Other profiles found to be this person: each is claimed (status merging, merged into this subject) in
    # the same transaction, and the merge worker moves its items; or why they were left apart (a conflict).
    identity: IdentityDecision | None = None
    # During a secret rotation: the claimed identifiers' tokens in the other live version, each required absent.
    claim_guards: tuple[str, ...] = ()
    # The program and campaign the touchpoint belongs to: the profile remembers the last touchpoint's, and the
    # classifier credits a state move to them (absent: the move is credited to no program)
    program: str | None = None
    campaign_id: str | None = None
    # Answers given again unchanged, later than the stored ones: each replaces its stored answer (the latest
    # evidence) only if that is still the same answer and older, and moves no consent version (consent.merge)
    reaffirmed_consents: Mapping[str, ConsentRecord] = field(default_factory=dict)


class ProfileStore(OwnerDirectory, Protocol):
    """The profile table and key vault, seen from the domain: placement reads owners and subjects, the pipeline
    writes."""

    def write(self, change: ProfileWrite) -> None:
        """Atomic. Raises DuplicateTouchpoint, StaleSubject or StorageUnavailable."""
        ...

    def has_event(self, subject_id: str, sort_key: str) -> bool:
        """Whether the subject's partition holds this event item, read eventually consistent: an event stored a
        moment ago may be missed. Raises StorageUnavailable."""
        ...


class IngestStatus(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    ACCEPTED = "accepted"  # all a public channel is told: stored, duplicate and refused look the same


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    event_id: str
    status: IngestStatus
    profile_id: str
    new_profile: bool = False
    dropped_fields: tuple[str, ...] = ()
    identity: IdentityOutcome = IdentityOutcome.SINGLE

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "status": self.status.value,
            "profile_id": self.profile_id,
            "new_profile": self.new_profile,
            "dropped_fields": list(self.dropped_fields),
            "identity": self.identity.value,
        }


@dataclass(frozen=True, slots=True)
class AcceptedTouchpoint:
    """A public channel's answer: it never says who is known, new or erased (policies/trust.yaml).

    `dropped_fields` is what the touchpoint's own consent block does not let us keep, whoever it names.
    """

    event_id: str
    dropped_fields: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "status": IngestStatus.ACCEPTED.value,
            "dropped_fields": [*self.dropped_fields],
        }


def new_subject_id() -> str:
    return f"sub_{uuid.uuid4().hex}"


class IngestionService:
    """Prepares, places, plans, seals and writes touchpoints (see the module's docstring)."""

    def __init__(
        self,
        store: ProfileStore,
        keyring: SubjectKeyring,
        tokenizer: Callable[[], Tokenizer],
        policy: ConsentPolicy,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = 50_000,
        trust: TrustPolicy | None = None,
        identity: IdentityPolicy | None = None,
        link_guard: LinkGuard | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._tokenizer = tokenizer
        self._policy = policy
        self._trust = trust or load_trust_policy()
        self._clock = clock
        self._placement = IdentityPlacement(
            store,
            self._trust,
            identity or load_identity_policy(),
            forget_key=keyring.forget,
            link_guard=link_guard,
            cache_size=cache_size,
        )

    def prepare(self, touchpoint: Touchpoint) -> PreparedTouchpoint:
        """Checks that need no storage; raises InvalidTouchpoint. Run on a whole batch before writing any of it."""
        if not touchpoint.identifiers:
            raise InvalidTouchpoint(
                "the touchpoint names no one",
                [FieldProblem((), "no_identifier", "a touchpoint needs at least one identifier of the customer")],
            )
        check_declared(touchpoint, self._policy)
        tokenizer = self._tokenizer()
        tokens: dict[IdentifierKind, str] = {}
        aliases: dict[str, tuple[str, ...]] = {}
        for kind, value in touchpoint.identifiers.items():
            versions = tokenizer.tokens(kind, value)  # more than one only during a secret rotation
            tokens[kind] = versions[0]
            if len(versions) > 1:
                aliases[versions[0]] = versions[1:]
        same_value = {
            token
            for kind, value in touchpoint.identifiers.items()
            for token in self._trust.value_tokens(tokenizer, kind, value)[1:]
        }
        verified = self._vouched_tokens(touchpoint, tokenizer, tokens)
        others = tuple(sorted(same_value - set(tokens.values())))
        return PreparedTouchpoint(touchpoint, tokens, others, verified, aliases)

    def _vouched_tokens(
        self, touchpoint: Touchpoint, tokenizer: Tokenizer, tokens: Mapping[IdentifierKind, str]
    ) -> frozenset[str]:
        """The tokens of the identifiers the channel vouches for; a vouch that does not hold is refused (422)."""
        channel = touchpoint.channel
        problems = []
        for index, (kind, proof) in enumerate(touchpoint.verified.items()):
            loc = ("verified", index)
            if kind not in touchpoint.identifiers:
                problems.append(
                    FieldProblem(loc, "not_in_touchpoint", "a verified identifier must be in the touchpoint")
                )
            elif not self._trust.may_vouch(channel, kind):
                problems.append(FieldProblem(loc, "vouch_not_allowed", "this channel may not vouch for this kind"))
            elif self._trust.is_public(channel) and not (
                proof and tokenizer.vouch_holds(channel, touchpoint.event_id, kind, touchpoint.identifiers[kind], proof)
            ):
                problems.append(FieldProblem(loc, "invalid_proof", "the proof does not hold for this identifier"))
        if problems:
            raise InvalidTouchpoint("the touchpoint's verification cannot be accepted", problems)
        return frozenset(tokens[kind] for kind in touchpoint.verified)

    def accepted(self, touchpoint: Touchpoint) -> AcceptedTouchpoint:
        """What a public channel is told about a touchpoint, whatever happened to it."""
        dropped = plan_storage(touchpoint, {}, self._policy).dropped_fields
        return AcceptedTouchpoint(touchpoint.event_id, tuple(f.value for f in dropped))

    def ingest(self, prepared: PreparedTouchpoint, *, resent_request: bool = False) -> IngestOutcome:
        """A known person's touchpoint that may be a resend is first looked for with a read (half a read unit)
        rather than told by a transaction cancelled on its event item, which is charged every item it carries
        (~6 write units). It may be one when its trace is no later than the last trace stored for its person (a
        resend always is: it was stored), or when `resent_request` says an earlier touchpoint of the same request
        was a duplicate (an SDK's batch resent after a timeout, a store's file sent again). A touchpoint later than
        its person's last trace, the common case, stays one transaction and no read."""
        # A new person's id and data key, made once: every attempt offers the same ones, so retries cost no KMS call.
        new_subject: list[tuple[str, NewDataKey, SubjectCipher]] = []
        for attempt in range(_MAX_ATTEMPTS):
            try:
                return self._attempt(prepared, new_subject, fresh=attempt > 0, look_first=resent_request)
            except StaleSubject:
                continue
        raise ConcurrentUpdate("the profile kept changing under this touchpoint; retry it")

    def _attempt(
        self,
        prepared: PreparedTouchpoint,
        new_subject: list[tuple[str, NewDataKey, SubjectCipher]],
        *,
        fresh: bool,
        look_first: bool = False,
    ) -> IngestOutcome:
        touchpoint = prepared.touchpoint
        placement = self._placement.place(prepared, fresh=fresh)
        snapshot = placement.snapshot
        plan = plan_storage(placement.admitted(touchpoint), snapshot.consents if snapshot else {}, self._policy)
        plan = self._placement.restrict(prepared, placement, plan)
        claims = self._placement.links(prepared, placement, plan)
        if snapshot is None:
            if not new_subject:
                created = new_subject_id() if claims else self._unlinked_subject_id(touchpoint)
                new_subject.append((created, *self._keyring.new_subject_key(created)))
            subject_id, new_key, cipher = new_subject[0]
            wrapped_key: bytes | None = new_key.wrapped
        else:
            subject_id, wrapped_key = snapshot.subject_id, None
            cipher = self._keyring.cipher_from_wrapped(snapshot.subject_id, snapshot.wrapped_key)
            maybe_resent = look_first or _no_later_than(stored_trace_time(touchpoint, plan), snapshot.last_trace_at)
            if maybe_resent and not fresh and self._stored_already(subject_id, cipher, touchpoint):
                return IngestOutcome(touchpoint.event_id, IngestStatus.DUPLICATE, subject_id)
        change = self._profile_write(prepared, plan, subject_id, cipher, claims, placement, wrapped_key)
        try:
            self._store.write(change)
        except DuplicateTouchpoint:
            return IngestOutcome(touchpoint.event_id, IngestStatus.DUPLICATE, subject_id)
        except StaleSubject:
            if snapshot is None and not claims and self._store.load_subject(subject_id) is not None:
                # An unlinked touchpoint's profile is named after its channel and event id: it exists, a retry
                return IngestOutcome(touchpoint.event_id, IngestStatus.DUPLICATE, subject_id)
            self._placement.forget(subject_id, prepared.tokens.values())
            for other in placement.read:
                self._placement.forget(other)
            raise
        self._keyring.remember(subject_id, cipher)
        self._placement.remember(
            prepared,
            placement,
            subject_id,
            claims=claims,
            consents=change.consents,
            reaffirmed=change.reaffirmed_consents,
            fields={name: value.verified for name, value in change.fields.items()},
            new_wrapped_key=wrapped_key,
            last_trace_at=change.trace.occurred_at if change.trace and change.advance_last_trace else None,
        )
        decision = placement.decision
        return IngestOutcome(
            touchpoint.event_id,
            IngestStatus.STORED,
            subject_id,
            new_profile=snapshot is None,
            dropped_fields=tuple(f.value for f in plan.dropped_fields),
            identity=decision.outcome if decision else IdentityOutcome.SINGLE,
        )

    def _stored_already(self, subject_id: str, cipher: SubjectCipher, touchpoint: Touchpoint) -> bool:
        """Whether the touchpoint's event item is stored; one the read misses (or a read that fails) is still told
        by the write's condition."""
        sort_key = event_item.sort_key(cipher, touchpoint.channel.value, touchpoint.event_id)
        try:
            return self._store.has_event(subject_id, sort_key)
        except StorageUnavailable:
            return False

    def _unlinked_subject_id(self, touchpoint: Touchpoint) -> str:
        # No token will find this profile, so a retry could not: the id comes from the event instead.
        return self._tokenizer().unlinked_subject_id(touchpoint.channel.value, touchpoint.event_id)

    def _profile_write(
        self,
        prepared: PreparedTouchpoint,
        plan: StoragePlan,
        subject_id: str,
        cipher: SubjectCipher,
        claims: tuple[str, ...],
        placement: Placement,
        wrapped_key: bytes | None,
    ) -> ProfileWrite:
        touchpoint = prepared.touchpoint
        snapshot = placement.snapshot
        channel = touchpoint.channel.value
        confirmed_at = touchpoint.occurred_at.astimezone(UTC)
        fields = {
            str(field_name): EncryptedField(
                cipher.encrypt(field_name, value),
                confirmed_at,
                channel,
                self._placement.value_verified(prepared, placement, field_name),
            )
            for field_name, value in plan.personal_data.items()
        }

        def records(grants: tuple[ConsentGrant, ...]) -> dict[str, ConsentRecord]:
            return {g.key: ConsentRecord(g.granted, g.collected_at, channel, self._policy.version) for g in grants}

        consents, reaffirmed = records(plan.consent_changes), records(plan.consent_reaffirmed)
        trace = self._trace_record(touchpoint, plan, cipher)
        known_trace = snapshot.last_trace_at if snapshot else None
        written_at = self._clock()
        return ProfileWrite(
            subject_id=subject_id,
            channel=channel,
            event_id=touchpoint.event_id,
            written_at=written_at,
            fields=fields,
            claim_tokens=claims,
            all_tokens=tuple(prepared.tokens.values()),
            link_limits=self._placement.link_limits(claims),
            consents=consents,
            trace=trace,
            event=sealed_event(cipher, channel, touchpoint.event_id, written_at, trace),
            consent_history=(sealed_consents(cipher, consents, touchpoint.event_id),) if consents else (),
            new_subject_key=wrapped_key,
            expected_consent_version=snapshot.consent_version if snapshot else 0,
            advance_last_trace=trace is not None and not _no_later_than(trace.occurred_at, known_trace),
            program=touchpoint.program,
            campaign_id=touchpoint.campaign_id if touchpoint.program else None,
            identity=placement.decision,
            claim_guards=tuple(a for t in claims for a in prepared.aliases.get(t, ())),
            reaffirmed_consents=reaffirmed,
        )

    def _trace_record(self, touchpoint: Touchpoint, plan: StoragePlan, cipher: SubjectCipher) -> TraceRecord | None:
        trace = touchpoint.trace
        occurred_at = stored_trace_time(touchpoint, plan)
        if trace is None or occurred_at is None:
            return None
        assert plan.retention_days is not None
        minimized = plan.trace_mode is TraceMode.MINIMIZED
        details = None
        if trace.details and not minimized:
            field_name = trace_details_field(touchpoint.channel.value, touchpoint.event_id)
            details = cipher.encrypt(field_name, json.dumps(dict(trace.details), sort_keys=True))
        # To the day: the one readable time an event keeps once its key is destroyed names no hour.
        expires_at = int((occurred_at + timedelta(days=plan.retention_days)).timestamp()) // _DAY * _DAY
        return TraceRecord(trace.kind, trace.action, occurred_at, minimized, details, expires_at)


def stored_trace_time(touchpoint: Touchpoint, plan: StoragePlan) -> datetime | None:
    """When the touchpoint's trace is stored as having happened (to the day when minimized); None: no trace kept."""
    if touchpoint.trace is None or plan.trace_mode is TraceMode.NONE:
        return None
    occurred_at = touchpoint.occurred_at.astimezone(UTC)
    if plan.trace_mode is TraceMode.MINIMIZED:
        return occurred_at.replace(hour=0, minute=0, second=0, microsecond=0)
    return occurred_at


def _no_later_than(trace_time: datetime | None, last_trace_at: datetime | None) -> bool:
    """A trace kept no later than the person's last known one: it does not move their last trace, and may be a
    resend."""
    return trace_time is not None and last_trace_at is not None and trace_time <= last_trace_at


def trace_details_field(channel: str, event_id: str) -> str:
    """The associated-data name a trace's details are encrypted under."""
    return event_item.details_field(channel, event_id)


def sealed_event(
    cipher: SubjectCipher, channel: str, event_id: str, received_at: datetime, trace: TraceRecord | None
) -> SealedItem:
    sk = event_item.sort_key(cipher, channel, event_id)
    metadata = {
        event_item.CHANNEL: channel,
        event_item.EVENT_ID: event_id,
        event_item.RECEIVED_AT: received_at.isoformat(),
        event_item.TRACE: trace.kind.value if trace else "none",
        event_item.ACTION: trace.action if trace else None,
        event_item.OCCURRED_AT: trace.occurred_at.isoformat() if trace else None,
        event_item.MINIMIZED: trace.minimized if trace else False,
    }
    return SealedItem(sk, event_item.seal(cipher, sk, metadata))


def sealed_consents(cipher: SubjectCipher, answers: Mapping[str, ConsentRecord], reference: str) -> SealedItem:
    """The answers one touchpoint or request changed, in one history item."""
    return SealedItem(*consent_item.sealed_item(cipher, answers, reference))


def prepare_batch(service: IngestionService, touchpoints: Sequence[Touchpoint]) -> list[PreparedTouchpoint]:
    """Prepare every touchpoint of a batch, collecting all problems, so a bad one writes nothing."""
    prepared: list[PreparedTouchpoint] = []
    problems: list[FieldProblem] = []
    for index, touchpoint in enumerate(touchpoints):
        try:
            prepared.append(service.prepare(touchpoint))
        except InvalidTouchpoint as error:
            problems.extend(FieldProblem(("touchpoints", index, *p.loc), p.code, p.message) for p in error.problems)
    if problems:
        raise InvalidTouchpoint("some touchpoints are invalid; none was stored", problems)
    return prepared


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What happened to each touchpoint of a request; `failure` stops the batch where it occurred."""

    results: tuple[IngestOutcome, ...]
    not_attempted: tuple[str, ...] = ()
    failure: RetryableError | None = None
    refused: tuple[str, ...] = ()  # event ids naming an erased, suppressed person: never stored


def ingest_touchpoints(service: IngestionService, touchpoints: Sequence[Touchpoint]) -> BatchOutcome:
    """Validate the whole batch first (nothing is written if any is invalid), then store each atomically.

    A retryable failure part-way (KMS or DynamoDB down) stops the batch and says which
    touchpoints were stored; the channel may resend the whole batch, duplicates are ignored.
    A touchpoint of an erased person is refused and the rest of the batch is still stored.
    """
    prepared = prepare_batch(service, touchpoints)
    results: list[IngestOutcome] = []
    refused: list[str] = []
    for index, item in enumerate(prepared):
        try:
            results.append(
                service.ingest(item, resent_request=any(r.status is IngestStatus.DUPLICATE for r in results))
            )
        except SubjectErased:
            refused.append(item.touchpoint.event_id)
        except RetryableError as error:
            pending = tuple(p.touchpoint.event_id for p in prepared[index:])
            return BatchOutcome(tuple(results), (*refused, *pending), error, tuple(refused))
    return BatchOutcome(tuple(results), refused=tuple(refused))
