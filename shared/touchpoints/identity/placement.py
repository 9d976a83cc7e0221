"""Identity placement: which profile a touchpoint lands on, and what it may bring there.

Who owns each of the touchpoint's tokens, the owners' snapshots, the trust policy's placement (a public channel's
unproven claim never writes to an identified profile), the merge decision, which identifiers get linked within the
link limits, and which values count as verified. The ingestion pipeline calls `place` before it plans what to
store, `restrict` and `links` on its plan, and `remember` / `forget` around its write.

Caches, per container, which subject a token belongs to and each subject's snapshot, so a warm function places a
known person's touchpoint with no reads. Every cached fact is re-checked by the write's conditions: a stale cache
costs a retry, never a wrong write.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from touchpoints.consent import ConsentRecord, StoragePlan
from touchpoints.errors import StaleSubject, SubjectErased
from touchpoints.identity.policy import IdentityPolicy
from touchpoints.identity.resolution import IdentityDecision, LinkGuard, decide, withheld_fields
from touchpoints.identity.subject import PreparedTouchpoint, SubjectSnapshot, TokenRecord
from touchpoints.model import RESOLUTION_PRIORITY, PersonalField, Touchpoint
from touchpoints.privacy.tokenizer import token_kind
from touchpoints.trust import TrustPolicy


class OwnerDirectory(Protocol):
    """Who holds a token, and what a subject is: the part of the profile store placement reads."""

    def find_tokens(self, tokens: Collection[str]) -> dict[str, TokenRecord]: ...

    def load_subject(self, subject_id: str) -> SubjectSnapshot | None:
        """None when the subject is gone or being erased."""
        ...

    def survivor_of(self, subject_id: str) -> str | None:
        """The active profile a merged (or merging) subject's tombstone leads to; None when there is none."""
        ...


@dataclass(frozen=True, slots=True)
class Placement:
    """Which profile a touchpoint is written to (None: a new one), and what it may bring there."""

    snapshot: SubjectSnapshot | None
    owned: tuple[str, ...]
    claims: tuple[str, ...]
    proven: bool  # its sender is trusted to be this profile's person: a private channel, or a vouch that counts
    foreign_kinds: frozenset[str] = frozenset()  # identifiers another profile holds: their values are not copied
    trace_only: bool = False  # an unproven claim on an identified profile: its trace and withdrawals, nothing else
    # Other profiles found to be this person (merged into this one), or why they were left apart (a conflict).
    decision: IdentityDecision | None = None
    owners: Mapping[str, str | None] = field(default_factory=dict)  # token -> its holder (None: nobody yet)
    read: tuple[str, ...] = ()  # every owner whose snapshot was read: forgotten if the write finds them stale

    def admitted(self, touchpoint: Touchpoint) -> Touchpoint:
        """What of the touchpoint the consent plan is made of: of a trace-only claim, its trace and withdrawals."""
        if not self.trace_only:
            return touchpoint
        withdrawals = tuple(g for g in touchpoint.consents if not g.granted)
        return replace(touchpoint, personal_data={}, consents=withdrawals)


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


class IdentityPlacement:
    def __init__(
        self,
        directory: OwnerDirectory,
        trust: TrustPolicy,
        identity: IdentityPolicy,
        *,
        forget_key: Callable[[str], None],
        link_guard: LinkGuard | None = None,
        cache_size: int = 50_000,
    ) -> None:
        self._directory = directory
        self._trust = trust
        self._identity = identity
        self._forget_key = forget_key  # a subject found gone: its cached data key goes too
        self._link_guard = link_guard
        self._subject_of_token = _LruCache(cache_size)
        self._snapshots = _LruCache(cache_size)

    def place(self, prepared: PreparedTouchpoint, *, fresh: bool) -> Placement:
        """Where the touchpoint goes; `fresh` reads every owner and snapshot again instead of the caches."""
        owners = self._owners(prepared, fresh=fresh)
        snapshots = self._owner_snapshots(prepared, owners, fresh=fresh)
        found = next((snapshots[o] for k in RESOLUTION_PRIORITY if (o := owners.get(prepared.tokens.get(k, "")))), None)
        placement = self._place(prepared, found, owners, fresh=fresh)
        decision = self._identity_decision(prepared, placement, found, snapshots, owners)
        return replace(placement, decision=decision, owners=owners, read=tuple(snapshots))

    def restrict(self, prepared: PreparedTouchpoint, placement: Placement, plan: StoragePlan) -> StoragePlan:
        """The consent policy's plan, less what trust forbids (another profile's identifier values, a verified value
        replaced by an unverified one) and what a merge's conflict withholds."""
        protected = placement.snapshot.verified_fields if placement.snapshot else frozenset()
        kept = {
            name: value
            for name, value in plan.personal_data.items()
            if name.value not in placement.foreign_kinds
            and (name.value not in protected or self.value_verified(prepared, placement, name))
        }
        if len(kept) != len(plan.personal_data):
            dropped = (*plan.dropped_fields, *(f for f in plan.personal_data if f not in kept))
            plan = replace(plan, personal_data=kept, dropped_fields=dropped)
        if placement.decision is not None:
            plan = replace(plan, personal_data=withheld_fields(plan.personal_data, prepared.tokens, placement.decision))
        return plan

    def links(self, prepared: PreparedTouchpoint, placement: Placement, plan: StoragePlan) -> tuple[str, ...]:
        """The identifiers to link: those with a linking basis (consent.yaml) that trust lets attach to the profile
        as the touchpoint found it, within the link limits (a touchpoint carries one identifier per kind)."""
        snapshot = placement.snapshot
        held = snapshot.link_counts if snapshot else {}
        channel = prepared.touchpoint.channel
        claims = tuple(
            token
            for token in placement.claims
            if token_kind(token) in plan.linkable
            and self._trust.may_attach(channel, token_kind(token), verified=placement.proven, profile_links=held)
        )
        return claims if snapshot is None else self._within_link_limits(claims, snapshot)

    def link_limits(self, claims: Collection[str]) -> dict[str, int]:
        """Per kind claimed, how many tokens of it a subject may hold: the store conditions each claim on it."""
        return {token_kind(t): self._link_limit(token_kind(t)) for t in claims}

    def value_verified(self, prepared: PreparedTouchpoint, placement: Placement, name: PersonalField) -> bool:
        vouched = {token_kind(t) for t in prepared.verified_tokens}
        return placement.proven or name.value in vouched

    def remember(
        self,
        prepared: PreparedTouchpoint,
        placement: Placement,
        subject_id: str,
        *,
        claims: tuple[str, ...],
        consents: Mapping[str, ConsentRecord],
        fields: Mapping[str, bool],
        new_wrapped_key: bytes | None,
        last_trace_at: datetime | None = None,
        reaffirmed: Mapping[str, ConsentRecord] | None = None,
    ) -> None:
        """After the write to `subject_id`: the touchpoint's tokens lead there, and its snapshot has what was written
        (`consents` changed, `reaffirmed` given again unchanged, `fields` by name, each verified or not, `claims`
        linked, the key of a new subject, the trace time `last_trace_at` the write moved the profile's to)."""
        reaffirmed = reaffirmed or {}
        absorbed = placement.decision.absorbed if placement.decision else ()
        owned = (*placement.owned, *(t for t in prepared.tokens.values() if placement.owners.get(t) in absorbed))
        for token in (*owned, *claims):
            self._subject_of_token.put(token, subject_id)
        snapshot = placement.snapshot
        links = dict(snapshot.link_counts) if snapshot else {}
        for token in claims:
            links[token_kind(token)] = links.get(token_kind(token), 0) + 1
        verified = frozenset(name for name, is_verified in fields.items() if is_verified)
        if snapshot is None:
            written = SubjectSnapshot(
                subject_id, dict(consents), 1 if consents else 0, new_wrapped_key or b"", links, verified, last_trace_at
            )
        elif consents or reaffirmed or claims or fields or last_trace_at:
            written = SubjectSnapshot(
                subject_id,
                {**snapshot.consents, **reaffirmed, **consents},
                snapshot.consent_version + (1 if consents else 0),
                snapshot.wrapped_key,
                links,
                snapshot.verified_fields | verified,
                last_trace_at or snapshot.last_trace_at,
            )
        else:
            return
        self._snapshots.put(subject_id, written)

    def forget(self, subject_id: str, tokens: Collection[str] = ()) -> None:
        # The data key stays: the keyring reuses it only for the same wrapped bytes, so a re-read needs no unwrap.
        self._snapshots.drop(subject_id)
        for token in tokens:
            self._subject_of_token.drop(token)

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
            aliases = [a for t in unknown for a in prepared.aliases.get(t, ())]
            found = self._directory.find_tokens([*unknown, *aliases, *prepared.same_value_tokens])
            if any(record.suppressed for record in found.values()):
                raise SubjectErased("this person asked to be erased; the touchpoint was not stored")
            for token in unknown:
                # Mid-rotation a person may be held in either version: whichever is found names them.
                versions = (token, *prepared.aliases.get(token, ()))
                if record := next((found[t] for t in versions if t in found), None):
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
                self.forget(subject_id, prepared.tokens.values())
                self._forget_key(subject_id)
                if not fresh:
                    # A warm container's cached owner was erased or merged: its identifiers may have been released,
                    # lifted or re-pointed since, so the tokens are read again before anything is decided.
                    raise StaleSubject
                survivor = self._directory.survivor_of(subject_id)
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
        placement: Placement,
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
    ) -> Placement:
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
            return Placement(None, (), claims, not public)
        candidates = [found.subject_id]
        candidates += dict.fromkeys(o for k in RESOLUTION_PRIORITY if (o := owners.get(prepared.tokens.get(k, ""))))
        for subject_id in dict.fromkeys(candidates):
            snapshot = found if subject_id == found.subject_id else self._snapshot(subject_id, fresh=fresh)
            if snapshot is None:
                continue
            owned = tuple(t for t in prepared.tokens.values() if owners.get(t) == subject_id)
            proven = not public or bool(prepared.verified_tokens.intersection(owned))
            if self._trust.may_write(channel, verified=proven, profile_links=snapshot.link_counts):
                return Placement(snapshot, owned, claims, proven, held_by_others(subject_id))
        if claims:
            return Placement(None, (), claims, False, held_by_others(None))
        owned = tuple(t for t in prepared.tokens.values() if owners.get(t) == found.subject_id)
        return Placement(found, owned, (), False, trace_only=True)

    def _link_limit(self, kind: str) -> int:
        per_profile = self._identity.per_profile(kind)
        limit = self._trust.link_limit(kind)
        return limit if per_profile is None else min(limit, per_profile)

    def _snapshot(self, subject_id: str, *, fresh: bool) -> SubjectSnapshot | None:
        cached = None if fresh else self._snapshots.get(subject_id)
        if isinstance(cached, SubjectSnapshot):
            return cached
        snapshot = self._directory.load_subject(subject_id)
        if snapshot is not None:
            self._snapshots.put(subject_id, snapshot)
        return snapshot
