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
from touchpoints.identity.policy import IdentityPolicy, load_identity_policy
from touchpoints.identity.resolution import IdentityDecision, IdentityOutcome, LinkGuard, decide, withheld_fields
from touchpoints.identity.subject import SubjectSnapshot
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.model import RESOLUTION_PRIORITY, IdentifierKind, PersonalField, Touchpoint, TraceKind
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
    # Other profiles found to be this person: each is claimed (status merging, merged into this subject) in
    # the same transaction, and the merge worker moves its items; or why they were left apart (a conflict).
    identity: IdentityDecision | None = None


class ProfileStore(Protocol):
    """The profile table and key vault, seen from the domain."""

    def find_tokens(self, tokens: Collection[str]) -> dict[str, TokenRecord]: ...

    def load_subject(self, subject_id: str) -> SubjectSnapshot | None:
        """None when the subject is gone or being erased."""
        ...

    def write(self, change: ProfileWrite) -> None:
        """Atomic. Raises DuplicateTouchpoint, StaleSubject or StorageUnavailable."""
        ...

    def survivor_of(self, subject_id: str) -> str | None:
        """The active profile a merged (or merging) subject's tombstone leads to; None when there is none."""
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


@dataclass(frozen=True, slots=True)
class PreparedTouchpoint:
    touchpoint: Touchpoint
    tokens: Mapping[IdentifierKind, str]
    # The same values under the other kinds that share them (a phone number as WhatsApp): checked for suppression only.
    same_value_tokens: tuple[str, ...] = ()
    verified_tokens: frozenset[str] = frozenset()  # identifiers the channel vouched for, the vouch checked


@dataclass(frozen=True, slots=True)
class _Placement:
    """Which profile a touchpoint is written to (None: a new one), and what it may bring there."""

    snapshot: SubjectSnapshot | None
    owned: tuple[str, ...]
    claims: tuple[str, ...]
    proven: bool  # its sender is trusted to be this profile's person: a private channel, or a vouch that counts
    foreign_kinds: frozenset[str] = frozenset()  # identifiers another profile holds: their values are not copied
    trace_only: bool = False  # an unproven claim on an identified profile: its trace and withdrawals, nothing else


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
        identity: IdentityPolicy | None = None,
        link_guard: LinkGuard | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._tokenizer = tokenizer
        self._policy = policy
        self._trust = trust or load_trust_policy()
        self._identity = identity or load_identity_policy()
        self._link_guard = link_guard
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
        verified = self._vouched_tokens(touchpoint, tokenizer, tokens)
        return PreparedTouchpoint(touchpoint, tokens, tuple(sorted(same_value - set(tokens.values()))), verified)

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
        owners = self._owners(prepared, fresh=fresh)
        snapshots = self._owner_snapshots(prepared, owners, fresh=fresh)
        found = next((snapshots[o] for k in RESOLUTION_PRIORITY if (o := owners.get(prepared.tokens.get(k, "")))), None)
        placement = self._place(prepared, found, owners, fresh=fresh)
        snapshot = placement.snapshot
        subject_id = snapshot.subject_id if snapshot else None
        decision = self._identity_decision(prepared, placement, found, snapshots, owners)
        plan = self._plan(prepared, placement)
        if decision is not None:
            plan = replace(plan, personal_data=withheld_fields(plan.personal_data, prepared.tokens, decision))
        claims = self._linked_claims(prepared, placement, plan)
        if snapshot is not None:
            claims = self._within_link_limits(claims, snapshot)
        new_key = None
        if snapshot is None:
            if not new_subject:
                created = new_subject_id() if claims else self._unlinked_subject_id(touchpoint)
                new_subject.append((created, *self._keyring.new_subject_key(created)))
            subject_id, new_key, cipher = new_subject[0]
        else:
            cipher = self._keyring.cipher_from_wrapped(snapshot.subject_id, snapshot.wrapped_key)
        assert subject_id is not None
        change = self._profile_write(
            prepared, plan, subject_id, cipher, claims, placement, new_key.wrapped if new_key else None
        )
        if not advance_last_trace:
            change = replace(change, advance_last_trace=False)
        if decision is not None:
            change = replace(change, identity=decision)
        try:
            self._store.write(change)
        except DuplicateTouchpoint:
            return IngestOutcome(touchpoint.event_id, IngestStatus.DUPLICATE, subject_id)
        except StaleSubject:
            if snapshot is None and not claims and self._store.load_subject(subject_id) is not None:
                # An unlinked touchpoint's profile is named after its channel and event id: it exists, a retry
                return IngestOutcome(touchpoint.event_id, IngestStatus.DUPLICATE, subject_id)
            self._forget(subject_id, prepared.tokens.values())
            for other in snapshots:
                self._forget(other, ())
            raise
        absorbed = decision.absorbed if decision else ()
        owned = (*placement.owned, *(t for t in prepared.tokens.values() if owners.get(t) in absorbed))
        self._after_write(change, snapshot, cipher, owned)
        return IngestOutcome(
            touchpoint.event_id,
            IngestStatus.STORED,
            subject_id,
            new_profile=snapshot is None,
            dropped_fields=tuple(f.value for f in plan.dropped_fields),
            identity=decision.outcome if decision else IdentityOutcome.SINGLE,
        )

    def _owners(self, prepared: PreparedTouchpoint, *, fresh: bool) -> dict[str, str | None]:
        """Who holds each of the touchpoint's tokens (None: nobody yet).

        A suppressed value refuses the touchpoint under any kind that shares it; only the touchpoint's
        own tokens decide who it belongs to.
        """
        owners: dict[str, str | None] = {}
        unknown = []
        for token in prepared.tokens.values():
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
        return owners

    def _owner_snapshots(
        self, prepared: PreparedTouchpoint, owners: dict[str, str | None], *, fresh: bool
    ) -> dict[str, SubjectSnapshot]:
        """Each owner's snapshot; an owner merged into another is replaced, in `owners`, by its survivor."""
        snapshots: dict[str, SubjectSnapshot] = {}
        for subject_id in dict.fromkeys(s for s in owners.values() if s):
            snapshot = self._snapshot(subject_id, fresh=fresh)
            if snapshot is None:
                self._forget(subject_id, prepared.tokens.values())
                if not fresh:
                    # A warm container's cached owner was erased or merged: its identifiers may have been released,
                    # lifted or re-pointed since, so the tokens are read again before anything is decided.
                    raise StaleSubject
                survivor = self._store.survivor_of(subject_id)
                snapshot = self._snapshot(survivor, fresh=True) if survivor else None
                if snapshot is None:
                    raise SubjectErased("this person asked to be erased; the touchpoint was not stored")
                for token, owner in owners.items():
                    if owner == subject_id:
                        owners[token] = snapshot.subject_id
            snapshots[snapshot.subject_id] = snapshot
        return snapshots

    def _within_link_limits(self, claims: tuple[str, ...], snapshot: SubjectSnapshot) -> tuple[str, ...]:
        """The claims that keep the subject within the policy's links per kind; the newest are the ones left out."""
        held = dict(snapshot.link_counts)
        kept = []
        for token in claims:
            kind = token_kind(token)
            if held.get(kind, 0) < self._link_limit(kind):
                kept.append(token)
                held[kind] = held.get(kind, 0) + 1
        return tuple(kept)

    def _identity_decision(
        self,
        prepared: PreparedTouchpoint,
        placement: _Placement,
        found: SubjectSnapshot | None,
        snapshots: Mapping[str, SubjectSnapshot],
        owners: Mapping[str, str | None],
    ) -> IdentityDecision | None:
        """Merge the other profiles the touchpoint names into the one it is written to, or say why not (a conflict).

        Only when it is written to the profile its strongest identifier found: a public channel's unproven claim,
        placed elsewhere by the trust policy, joins no one.
        """
        survivor = placement.snapshot
        if survivor is None or found is None or survivor.subject_id != found.subject_id or placement.trace_only:
            return None
        others = [snapshot for subject_id, snapshot in snapshots.items() if subject_id != survivor.subject_id]
        guard = self._link_guard or self._may_join(prepared, owners)
        decision = decide(prepared.touchpoint, survivor, others, prepared.tokens, owners, self._identity, guard)
        return None if decision.is_single else decision

    def _may_join(self, prepared: PreparedTouchpoint, owners: Mapping[str, str | None]) -> LinkGuard:
        """A merge writes to both profiles: the trust policy must let this touchpoint write to each of them (a public
        channel only to an anonymous profile, or one it vouches for an identifier of)."""
        channel = prepared.touchpoint.channel
        public = self._trust.is_public(channel)

        def proven(snapshot: SubjectSnapshot) -> bool:
            return not public or any(owners.get(t) == snapshot.subject_id for t in prepared.verified_tokens)

        def may_join(_: Touchpoint, survivor: SubjectSnapshot, absorbed: SubjectSnapshot) -> bool:
            return all(
                self._trust.may_write(channel, verified=proven(s), profile_links=s.link_counts)
                for s in (survivor, absorbed)
            )

        return may_join

    def _place(
        self,
        prepared: PreparedTouchpoint,
        found: SubjectSnapshot | None,
        owners: Mapping[str, str | None],
        *,
        fresh: bool,
    ) -> _Placement:
        """Where the touchpoint goes, by the trust policy: a public channel's unproven claim never writes to an
        identified profile. It goes to another profile its identifiers find that it may write to (an anonymous
        one), or to a new profile with its new identifiers; with none, only its trace is kept on the found one.
        """
        channel = prepared.touchpoint.channel
        public = self._trust.is_public(channel)
        # A token that already belongs to someone else stays with them: profiles are never merged silently.
        claims = tuple(t for t in prepared.tokens.values() if owners.get(t) is None)

        def held_by_others(subject_id: str | None) -> frozenset[str]:
            return frozenset(token_kind(t) for t, o in owners.items() if public and o and o != subject_id)

        if found is None:
            return _Placement(None, (), claims, not public)
        candidates = [found.subject_id]
        candidates += dict.fromkeys(o for k in RESOLUTION_PRIORITY if (o := owners.get(prepared.tokens.get(k, ""))))
        for subject_id in dict.fromkeys(candidates):
            snapshot = found if subject_id == found.subject_id else self._snapshot(subject_id, fresh=fresh)
            if snapshot is None:
                continue
            owned = tuple(t for t in prepared.tokens.values() if owners.get(t) == subject_id)
            proven = not public or bool(prepared.verified_tokens.intersection(owned))
            if self._trust.may_write(channel, verified=proven, profile_links=snapshot.link_counts):
                return _Placement(snapshot, owned, claims, proven, held_by_others(subject_id))
        if claims:
            return _Placement(None, (), claims, False, held_by_others(None))
        owned = tuple(t for t in prepared.tokens.values() if owners.get(t) == found.subject_id)
        return _Placement(found, owned, (), False, trace_only=True)

    def _plan(self, prepared: PreparedTouchpoint, placement: _Placement) -> StoragePlan:
        """The consent policy's plan, less what trust forbids: another profile's identifier values, a verified
        value replaced by an unverified one, and everything but the trace and withdrawals of an unproven claim."""
        touchpoint = prepared.touchpoint
        snapshot = placement.snapshot
        if placement.trace_only:
            withdrawals = tuple(g for g in touchpoint.consents if not g.granted)
            touchpoint = replace(touchpoint, personal_data={}, consents=withdrawals)
        plan = plan_storage(touchpoint, snapshot.consents if snapshot else {}, self._policy)
        protected = snapshot.verified_fields if snapshot else frozenset()
        kept = {
            name: value
            for name, value in plan.personal_data.items()
            if name.value not in placement.foreign_kinds
            and (name.value not in protected or self._value_verified(prepared, placement, name))
        }
        if len(kept) == len(plan.personal_data):
            return plan
        dropped = (*plan.dropped_fields, *(f for f in plan.personal_data if f not in kept))
        return replace(plan, personal_data=kept, dropped_fields=dropped)

    def _value_verified(self, prepared: PreparedTouchpoint, placement: _Placement, name: PersonalField) -> bool:
        vouched = {token_kind(t) for t in prepared.verified_tokens}
        return placement.proven or name.value in vouched

    def _linked_claims(self, prepared: PreparedTouchpoint, placement: _Placement, plan: StoragePlan) -> tuple[str, ...]:
        """The identifiers to link: those with a linking basis (consent.yaml) that trust lets attach to the profile
        as the touchpoint found it, within the link limits (a touchpoint carries one identifier per kind)."""
        held = placement.snapshot.link_counts if placement.snapshot else {}
        channel = prepared.touchpoint.channel
        return tuple(
            token
            for token in placement.claims
            if token_kind(token) in plan.linkable
            and self._trust.may_attach(channel, token_kind(token), verified=placement.proven, profile_links=held)
        )

    def _unlinked_subject_id(self, touchpoint: Touchpoint) -> str:
        # No token will find this profile, so a retry could not: the id comes from the event instead.
        return self._tokenizer().unlinked_subject_id(touchpoint.channel.value, touchpoint.event_id)

    def _link_limit(self, kind: str) -> int:
        per_profile = self._identity.per_profile(kind)
        limit = self._trust.link_limit(kind)
        return limit if per_profile is None else min(limit, per_profile)

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
        placement: _Placement,
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
                self._value_verified(prepared, placement, field_name),
            )
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
            link_limits={token_kind(t): self._link_limit(token_kind(t)) for t in claims},
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
                    frozenset(name for name, value in change.fields.items() if value.verified),
                ),
            )
        elif change.consents or change.claim_tokens or change.fields:
            self._snapshots.put(
                change.subject_id,
                SubjectSnapshot(
                    change.subject_id,
                    {**snapshot.consents, **change.consents},
                    snapshot.consent_version + (1 if change.consents else 0),
                    snapshot.wrapped_key,
                    links,
                    snapshot.verified_fields | {name for name, value in change.fields.items() if value.verified},
                ),
            )

    def _forget(self, subject_id: str, tokens: Collection[str]) -> None:
        self._snapshots.drop(subject_id)
        self._keyring.forget(subject_id)
        for token in tokens:
            self._subject_of_token.drop(token)


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
