"""The ingestion pipeline: validate → consent → tokenize/encrypt → write.

Pure domain logic: storage and KMS are reached only through the ports below, so the
pipeline runs in unit tests without AWS and in Lambda with DynamoDB adapters.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
    SubjectErased,
)
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.model import RESOLUTION_PRIORITY, IdentifierKind, Touchpoint, TraceKind
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.privacy.keyring import NewDataKey, SubjectKeyring
from touchpoints.privacy.tokenizer import Tokenizer, token_kind
from touchpoints.trust import TrustPolicy, load_trust_policy

_MAX_ATTEMPTS = 4
_DAY = 86_400


@dataclass(frozen=True, slots=True)
class TokenRecord:
    subject_id: str | None
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class SubjectSnapshot:
    """What the pipeline needs to know of a stored subject before writing to it."""

    subject_id: str
    consents: Mapping[str, ConsentRecord]
    consent_version: int
    wrapped_key: bytes
    link_counts: Mapping[str, int] = field(default_factory=dict)  # identifier kind -> tokens held of it


@dataclass(frozen=True, slots=True)
class EncryptedField:
    ciphertext: bytes
    confirmed_at: datetime
    channel: str


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
    consents: Mapping[str, ConsentRecord]
    trace: TraceRecord | None
    event: SealedItem  # what the touchpoint was (items.event)
    consent_history: tuple[SealedItem, ...]  # one per consent answer (items.consent)
    new_subject_key: bytes | None = None  # wrapped key: set only when the subject is created
    expected_consent_version: int = 0
    # Move last_trace_at only forward; the store conditions on it, so a late, older touchpoint retries without it.
    advance_last_trace: bool = True
    # Per kind claimed: how many tokens of it the subject may hold; the store conditions the claim on it.
    link_limits: Mapping[str, int] = field(default_factory=dict)


class ProfileStore(Protocol):
    """The profile table and key vault, seen from the domain."""

    def find_tokens(self, tokens: Collection[str]) -> dict[str, TokenRecord]: ...

    def load_subject(self, subject_id: str) -> SubjectSnapshot | None:
        """None when the subject is gone or being erased."""
        ...

    def write(self, change: ProfileWrite) -> None:
        """Atomic. Raises DuplicateTouchpoint, StaleSubject or StorageUnavailable."""
        ...


class IngestStatus(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    event_id: str
    status: IngestStatus
    profile_id: str
    new_profile: bool = False
    dropped_fields: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "status": self.status.value,
            "profile_id": self.profile_id,
            "new_profile": self.new_profile,
            "dropped_fields": list(self.dropped_fields),
        }


@dataclass(frozen=True, slots=True)
class PreparedTouchpoint:
    touchpoint: Touchpoint
    tokens: Mapping[IdentifierKind, str]
    # The same values under the other kinds that share them (a phone number as WhatsApp): checked for suppression only.
    same_value_tokens: tuple[str, ...] = ()


@dataclass(slots=True)
class _LruCache:
    max_size: int
    entries: OrderedDict[str, object] = field(default_factory=OrderedDict)

    def get(self, key: str) -> object | None:
        value = self.entries.get(key)
        if value is not None:
            self.entries.move_to_end(key)
        return value

    def put(self, key: str, value: object) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)
        if len(self.entries) > self.max_size:
            self.entries.popitem(last=False)

    def drop(self, key: str) -> None:
        self.entries.pop(key, None)


def new_subject_id() -> str:
    return f"sub_{uuid.uuid4().hex}"


class IngestionService:
    """Applies consent, tokenizes, encrypts and writes touchpoints.

    Caches, per container, which subject a token belongs to and each subject's consent
    snapshot, so a warm function writes a known person's touchpoint with no reads. Every
    cached fact is re-checked by the write's conditions: a stale cache costs a retry,
    never a wrong write.
    """

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
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._tokenizer = tokenizer
        self._policy = policy
        self._trust = trust or load_trust_policy()
        self._clock = clock
        self._subject_of_token = _LruCache(cache_size)
        self._snapshots = _LruCache(cache_size)

    def prepare(self, touchpoint: Touchpoint) -> PreparedTouchpoint:
        """Checks that need no storage; raises InvalidTouchpoint. Run on a whole batch before writing any of it."""
        if not touchpoint.identifiers:
            raise InvalidTouchpoint(
                "the touchpoint names no one",
                [FieldProblem((), "no_identifier", "a touchpoint needs at least one identifier of the customer")],
            )
        check_declared(touchpoint, self._policy)
        tokenizer = self._tokenizer()
        tokens = {kind: tokenizer.token(kind, value) for kind, value in touchpoint.identifiers.items()}
        same_value = {
            token
            for kind, value in touchpoint.identifiers.items()
            for token in self._trust.value_tokens(tokenizer, kind, value)[1:]
        }
        return PreparedTouchpoint(touchpoint, tokens, tuple(sorted(same_value - set(tokens.values()))))

    def ingest(self, prepared: PreparedTouchpoint) -> IngestOutcome:
        # A new person's id and data key, made once: every attempt offers the same ones, so retries cost no KMS call.
        new_subject: list[tuple[str, NewDataKey, SubjectCipher]] = []
        for attempt in range(_MAX_ATTEMPTS):
            try:
                # A write refused twice with fresh data is most likely a late touchpoint older than the last trace.
                return self._attempt(prepared, new_subject, fresh=attempt > 0, advance_last_trace=attempt < 2)
            except StaleSubject:
                continue
        raise ConcurrentUpdate("the profile kept changing under this touchpoint; retry it")

    def _attempt(
        self,
        prepared: PreparedTouchpoint,
        new_subject: list[tuple[str, NewDataKey, SubjectCipher]],
        *,
        fresh: bool,
        advance_last_trace: bool,
    ) -> IngestOutcome:
        touchpoint = prepared.touchpoint
        subject_id, owned, claims = self._resolve(prepared, fresh=fresh)
        snapshot = self._snapshot(subject_id, fresh=fresh) if subject_id else None
        if subject_id and snapshot is None:
            self._forget(subject_id, prepared.tokens.values())
            if not fresh:
                # A warm container's cached owner was erased: its identifiers may have been released or
                # lifted since, so the tokens are read again before the touchpoint is refused.
                raise StaleSubject
            raise SubjectErased("this person asked to be erased; the touchpoint was not stored")

        if snapshot is not None:
            claims = self._within_link_limits(claims, snapshot)
        plan = plan_storage(touchpoint, snapshot.consents if snapshot else {}, self._policy)
        new_key = None
        if snapshot is None:
            if not new_subject:
                created = new_subject_id()
                new_subject.append((created, *self._keyring.new_subject_key(created)))
            subject_id, new_key, cipher = new_subject[0]
        else:
            cipher = self._keyring.cipher_from_wrapped(snapshot.subject_id, snapshot.wrapped_key)
        assert subject_id is not None
        change = self._profile_write(
            prepared, plan, subject_id, cipher, claims, snapshot, new_key.wrapped if new_key else None
        )
        if not advance_last_trace:
            change = replace(change, advance_last_trace=False)
        try:
            self._store.write(change)
        except DuplicateTouchpoint:
            return IngestOutcome(touchpoint.event_id, IngestStatus.DUPLICATE, subject_id)
        except StaleSubject:
            self._forget(subject_id, prepared.tokens.values())
            raise
        self._after_write(change, snapshot, cipher, owned)
        return IngestOutcome(
            touchpoint.event_id,
            IngestStatus.STORED,
            subject_id,
            new_profile=snapshot is None,
            dropped_fields=tuple(f.value for f in plan.dropped_fields),
        )

    def _resolve(
        self, prepared: PreparedTouchpoint, *, fresh: bool
    ) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
        """The subject these tokens belong to, the tokens already its own, and the tokens to claim for it.

        A suppressed value refuses the touchpoint under any kind that shares it; only the touchpoint's
        own tokens decide who it belongs to.
        """
        tokens = prepared.tokens
        owners: dict[str, str | None] = {}
        unknown = []
        for token in tokens.values():
            cached = None if fresh else self._subject_of_token.get(token)
            if cached is None:
                unknown.append(token)
            else:
                owners[token] = str(cached)
        if unknown:
            for token, record in self._store.find_tokens([*unknown, *prepared.same_value_tokens]).items():
                if record.suppressed:
                    raise SubjectErased("this person asked to be erased; the touchpoint was not stored")
                if token in unknown:
                    owners[token] = record.subject_id
        subject_id = next(
            (owners[tokens[k]] for k in RESOLUTION_PRIORITY if k in tokens and owners.get(tokens[k])), None
        )
        # A token that already belongs to someone else stays with them: profiles are never merged silently.
        claims = tuple(t for t in tokens.values() if owners.get(t) is None)
        owned = tuple(t for t in tokens.values() if subject_id and owners.get(t) == subject_id)
        return subject_id, owned, claims

    def _within_link_limits(self, claims: tuple[str, ...], snapshot: SubjectSnapshot) -> tuple[str, ...]:
        """The claims that keep the subject within the policy's links per kind; the newest are the ones left out."""
        held = dict(snapshot.link_counts)
        kept = []
        for token in claims:
            kind = token_kind(token)
            if held.get(kind, 0) < self._trust.link_limit(kind):
                kept.append(token)
                held[kind] = held.get(kind, 0) + 1
        return tuple(kept)

    def _snapshot(self, subject_id: str, *, fresh: bool) -> SubjectSnapshot | None:
        cached = None if fresh else self._snapshots.get(subject_id)
        if isinstance(cached, SubjectSnapshot):
            return cached
        snapshot = self._store.load_subject(subject_id)
        if snapshot is not None:
            self._snapshots.put(subject_id, snapshot)
        return snapshot

    def _profile_write(
        self,
        prepared: PreparedTouchpoint,
        plan: StoragePlan,
        subject_id: str,
        cipher: SubjectCipher,
        claims: tuple[str, ...],
        snapshot: SubjectSnapshot | None,
        wrapped_key: bytes | None,
    ) -> ProfileWrite:
        touchpoint = prepared.touchpoint
        channel = touchpoint.channel.value
        confirmed_at = touchpoint.occurred_at.astimezone(UTC)
        fields = {
            str(field_name): EncryptedField(cipher.encrypt(field_name, value), confirmed_at, channel)
            for field_name, value in plan.personal_data.items()
        }
        consents = {
            grant.key: ConsentRecord(grant.granted, grant.collected_at, channel, self._policy.version)
            for grant in plan.consent_changes
        }
        trace = self._trace_record(touchpoint, plan, cipher)
        written_at = self._clock()
        return ProfileWrite(
            subject_id=subject_id,
            channel=channel,
            event_id=touchpoint.event_id,
            written_at=written_at,
            fields=fields,
            claim_tokens=claims,
            all_tokens=tuple(prepared.tokens.values()),
            link_limits={token_kind(t): self._trust.link_limit(token_kind(t)) for t in claims},
            consents=consents,
            trace=trace,
            event=sealed_event(cipher, channel, touchpoint.event_id, written_at, trace),
            consent_history=tuple(
                sealed_consent(cipher, key, record, touchpoint.event_id) for key, record in consents.items()
            ),
            new_subject_key=wrapped_key,
            expected_consent_version=snapshot.consent_version if snapshot else 0,
        )

    def _trace_record(self, touchpoint: Touchpoint, plan: StoragePlan, cipher: SubjectCipher) -> TraceRecord | None:
        trace = touchpoint.trace
        if trace is None or plan.trace_mode is TraceMode.NONE:
            return None
        assert plan.retention_days is not None
        minimized = plan.trace_mode is TraceMode.MINIMIZED
        occurred_at = touchpoint.occurred_at.astimezone(UTC)
        if minimized:
            occurred_at = occurred_at.replace(hour=0, minute=0, second=0, microsecond=0)
        details = None
        if trace.details and not minimized:
            field_name = trace_details_field(touchpoint.channel.value, touchpoint.event_id)
            details = cipher.encrypt(field_name, json.dumps(dict(trace.details), sort_keys=True))
        # To the day: the one readable time an event keeps once its key is destroyed names no hour.
        expires_at = int((occurred_at + timedelta(days=plan.retention_days)).timestamp()) // _DAY * _DAY
        return TraceRecord(trace.kind, trace.action, occurred_at, minimized, details, expires_at)

    def _after_write(
        self, change: ProfileWrite, snapshot: SubjectSnapshot | None, cipher: SubjectCipher, owned: tuple[str, ...]
    ) -> None:
        for token in (*owned, *change.claim_tokens):
            self._subject_of_token.put(token, change.subject_id)
        self._keyring.remember(change.subject_id, cipher)
        links = dict(snapshot.link_counts) if snapshot else {}
        for token in change.claim_tokens:
            links[token_kind(token)] = links.get(token_kind(token), 0) + 1
        if snapshot is None:
            self._snapshots.put(
                change.subject_id,
                SubjectSnapshot(
                    change.subject_id,
                    dict(change.consents),
                    1 if change.consents else 0,
                    change.new_subject_key or b"",
                    links,
                ),
            )
        elif change.consents or change.claim_tokens:
            self._snapshots.put(
                change.subject_id,
                SubjectSnapshot(
                    change.subject_id,
                    {**snapshot.consents, **change.consents},
                    snapshot.consent_version + (1 if change.consents else 0),
                    snapshot.wrapped_key,
                    links,
                ),
            )

    def _forget(self, subject_id: str, tokens: Collection[str]) -> None:
        self._snapshots.drop(subject_id)
        self._keyring.forget(subject_id)
        for token in tokens:
            self._subject_of_token.drop(token)


def trace_details_field(channel: str, event_id: str) -> str:
    """The associated-data name a trace's details are encrypted under."""
    return f"trace:{channel}:{event_id}"


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


def sealed_consent(cipher: SubjectCipher, key: str, record: ConsentRecord, reference: str) -> SealedItem:
    sk = consent_item.sort_key(cipher, key, record.collected_at)
    return SealedItem(sk, consent_item.seal(cipher, sk, key, record, reference))


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
            results.append(service.ingest(item))
        except SubjectErased:
            refused.append(item.touchpoint.event_id)
        except RetryableError as error:
            pending = tuple(p.touchpoint.event_id for p in prepared[index:])
            return BatchOutcome(tuple(results), (*refused, *pending), error, tuple(refused))
    return BatchOutcome(tuple(results), refused=tuple(refused))
