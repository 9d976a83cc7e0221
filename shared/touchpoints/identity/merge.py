"""Merging an absorbed profile into its survivor under encryption, step by step, resumably.

The touchpoint that found both profiles claimed the absorbed one (status `merging`, `merged_into`
the survivor) in its own atomic write: from then on every touchpoint and compliance request that
names it lands on the survivor. The worker then

1. **move**: pages of the absorbed partition (traces, consent history, identifier links, the contact
   counter, whose contacts are added to the survivor's) are
   opened with the absorbed key and sealed again under the survivor's, their sort keys digested
   with it, written into the survivor's partition (a trace the survivor already has, by channel and
   event id, digests to the sort key it has and is not written twice), their tokens re-pointed and the
   originals deleted, each page one transaction conditioned on the survivor being active;
2. **profile**: fields (the most recently confirmed value wins, with when and where) and
   consents (per purpose and channel the newest answer; at the same instant "no" wins) join the
   survivor's, whose version moves so the classifier reclassifies it; the absorbed profile
   becomes a tombstone holding nothing but where it went;
3. **shred**: the absorbed key is destroyed: nothing of it is left that needs it.

If the survivor is erased meanwhile, the rest of the absorbed profile is erased too (its
identifiers suppressed, its key destroyed, its partition deleted), so no part of the person
outlives the erasure. Every step is recorded on the absorbed profile, by the write that makes it (a page's
transaction adds its counts, the tombstone records the shred): a re-delivered message resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from touchpoints.consent import ConsentRecord
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.privacy.keyring import SubjectKeyring


class MergeStep(StrEnum):
    MOVE = "move"
    PROFILE = "profile"
    SHRED = "shred"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class MergeState:
    """A claimed merge as the absorbed profile records it."""

    absorbed: str
    survivor: str
    step: MergeStep
    merged_at: datetime
    counts: Mapping[str, int] = field(default_factory=dict)


class ItemKind(StrEnum):
    EVENT = "event"
    CONSENT = "consent"
    LINK = "link"
    CONTACTS = "contacts"  # the contact counter: added into the survivor's (items/contact.py)


@dataclass(frozen=True, slots=True)
class PartitionItem:
    """One item of the absorbed partition to move; `item` is the store's own form of it.

    An event or consent history item is sealed under the absorbed key, under a sort key only that key
    computes (`sealed`), or was written before issue 17 with its content in the clear (`legacy`)."""

    sk: str
    kind: ItemKind
    item: Any
    sealed: bytes | None = None
    legacy: Any = None  # items.event.legacy_metadata / items.consent.legacy_change
    details: bytes | None = None  # an event's encrypted trace details


@dataclass(frozen=True, slots=True)
class MovedItem:
    """An item as the survivor keeps it: sort key digested and content sealed under the survivor's key."""

    sk: str
    sealed: bytes | None = None
    details: bytes | None = None
    trace: str | None = None  # an event's trace kind, for the survivor's counters
    duplicate_sks: tuple[str, ...] = ()  # sort keys under which the survivor may already hold this same event


def relocated(item: PartitionItem, source: SubjectCipher, target: SubjectCipher) -> MovedItem:
    """Open an absorbed item with the absorbed key; digest and seal it again with the survivor's.

    The same channel and event id digest to the same sort key under the survivor's key, so an event the
    survivor already has is found (and its pre-issue-17 key, in case the survivor's copy is that old)."""
    if item.kind is ItemKind.EVENT:
        meta = event_item.open_metadata(source, item.sk, item.sealed) if item.sealed is not None else item.legacy
        channel, event_id = meta[event_item.CHANNEL], meta[event_item.EVENT_ID]
        sk = event_item.sort_key(target, channel, event_id)
        aad = event_item.details_field(channel, event_id)
        details = None if item.details is None else target.encrypt(aad, source.decrypt(aad, item.details))
        return MovedItem(
            sk,
            event_item.seal(target, sk, meta),
            details,
            meta[event_item.TRACE],
            (sk, event_item.legacy_sort_key(channel, event_id)),
        )
    if item.kind is ItemKind.CONSENT:
        answers = consent_item.stored_changes(source, item.sk, item.sealed, item.legacy)
        return MovedItem(*consent_item.sealed_item(target, {key: record for key, record, _ in answers}, answers[0][2]))
    return MovedItem(item.sk)


@dataclass(frozen=True, slots=True)
class StoredValue:
    blob: bytes
    confirmed_at: str
    channel: str


@dataclass(frozen=True, slots=True)
class ProfileValues:
    """What of a profile the merge combines."""

    fields: Mapping[str, StoredValue]
    consents: Mapping[str, ConsentRecord]
    channels: tuple[str, ...]
    last_trace_at: str | None
    version: int
    counters: Mapping[str, int] = field(default_factory=dict)  # trace and link counters the merge moved
    verified: frozenset[str] = frozenset()  # fields whose value came from a trusted source (issue 17)


@dataclass(frozen=True, slots=True)
class ProfileMerge:
    """The survivor's side of the profile step: only what changes."""

    fields: Mapping[str, StoredValue]
    consents: Mapping[str, ConsentRecord]
    channels: tuple[str, ...]
    last_trace_at: str | None
    expected_version: int
    counters: Mapping[str, int]
    at: datetime
    verified: tuple[str, ...] = ()  # of `fields`, those whose value was verified


class MergeStore(Protocol):
    """The profile table and key vault, seen by the merge worker. Every operation is idempotent."""

    def state(self, absorbed: str) -> MergeState | None:
        """The merge recorded on the absorbed profile; None when it is not being (or was never) merged."""
        ...

    def survivor_of(self, subject_id: str) -> str | None: ...

    def retarget(self, absorbed: str, survivor: str) -> None:
        """The survivor was itself merged into another: point the tombstone at that one."""
        ...

    def wrapped_key(self, subject_id: str) -> bytes | None: ...

    def page(self, absorbed: str, size: int) -> list[PartitionItem]:
        """The first `size` items of the absorbed partition, its profile item left out."""
        ...

    def move(
        self, absorbed: str, survivor: str, items: Sequence[tuple[PartitionItem, MovedItem]]
    ) -> Mapping[str, int] | None:
        """Write the items (as the survivor keeps them) into the survivor, re-point tokens, delete the
        originals, in one transaction; counts of what moved, or None when the survivor is no longer active."""
        ...

    def profiles(self, absorbed: str, survivor: str) -> tuple[ProfileValues, ProfileValues] | None: ...

    def finish_profile(self, absorbed: str, survivor: str, change: ProfileMerge) -> bool | None:
        """Update the survivor and make the absorbed a tombstone at step SHRED, in one write; False: the survivor
        changed meanwhile (read again), None: the survivor is no longer active."""
        ...

    def destroy_key(self, subject_id: str) -> bool: ...

    def save(self, state: MergeState) -> None: ...

    def log(self, state: MergeState, outcome: str, now: datetime) -> None:
        """Complete the merge's line in the identity log (completed or abandoned), with its counts."""
        ...

    def abandon(self, absorbed: str, now: datetime) -> Mapping[str, int]:
        """The survivor was erased: erase what is left of the absorbed profile (suppress, shred, purge)."""
        ...


def merged_fields(survivor: ProfileValues, absorbed: ProfileValues) -> dict[str, StoredValue]:
    """The absorbed values that win: confirmed more recently than the survivor's (or the survivor has none), and
    never an unverified value over a verified one (channel trust: issue 17)."""
    return {
        name: value
        for name, value in absorbed.fields.items()
        if name not in survivor.fields
        or (
            _instant(value.confirmed_at) > _instant(survivor.fields[name].confirmed_at)
            and (name in absorbed.verified or name not in survivor.verified)
        )
    }


def merged_consents(
    survivor: Mapping[str, ConsentRecord], absorbed: Mapping[str, ConsentRecord]
) -> dict[str, ConsentRecord]:
    """The absorbed answers that win: newer, or given at the same instant as a "yes" and themselves a "no"."""
    winners = {}
    for key, answer in absorbed.items():
        kept = survivor.get(key)
        if (
            kept is None
            or answer.collected_at > kept.collected_at
            or (answer.collected_at == kept.collected_at and kept.granted and not answer.granted)
        ):
            winners[key] = answer
    return winners


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


class MergeSuperseded(Exception):
    """The merge is not (or no longer) this worker's to carry: done, or never claimed."""


class MergeService:
    def __init__(
        self,
        store: MergeStore,
        keyring: SubjectKeyring,
        *,
        page_size: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_profile_attempts: int = 5,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._page_size = page_size
        self._clock = clock
        self._attempts = max_profile_attempts

    def run(self, absorbed: str, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Carry the merge of `absorbed` forward from its recorded step. False: stopped early, run again."""
        state = self._store.state(absorbed)
        if state is None or state.step is MergeStep.DONE:
            return True
        state = self._follow_survivor(state)
        if state is None:
            return True
        if state.step is MergeStep.MOVE:
            moved = self._move(state, should_stop)
            if moved is None:
                return True
            if moved.step is MergeStep.MOVE:
                return False
            state = moved
        if state.step is MergeStep.PROFILE:
            profiled = self._profile(state)
            if profiled is None:
                return True
            state = profiled
        if state.step is MergeStep.SHRED:
            destroyed = self._store.destroy_key(state.absorbed)
            counts = {**state.counts, "keys_destroyed": int(destroyed) + state.counts.get("keys_destroyed", 0)}
            state = MergeState(state.absorbed, state.survivor, MergeStep.DONE, state.merged_at, counts)
            self._store.save(state)
            self._keyring.forget(state.absorbed)
            self._store.log(state, "completed", self._clock())
        return True

    def _follow_survivor(self, state: MergeState) -> MergeState | None:
        """The survivor as it is now: merged on into another (follow it), or erased (abandon the merge)."""
        live = self._store.survivor_of(state.survivor)
        if live is None:
            counts = self._store.abandon(state.absorbed, self._clock())
            abandoned = MergeState(
                state.absorbed, state.survivor, MergeStep.DONE, state.merged_at, {**state.counts, **counts}
            )
            self._store.log(abandoned, "abandoned", self._clock())
            self._keyring.forget(state.absorbed)
            return None
        if live != state.survivor:
            self._store.retarget(state.absorbed, live)
            state = MergeState(state.absorbed, live, state.step, state.merged_at, state.counts)
        return state

    def _ciphers(self, state: MergeState) -> tuple[SubjectCipher, SubjectCipher] | None:
        absorbed_key = self._store.wrapped_key(state.absorbed)
        survivor_key = self._store.wrapped_key(state.survivor)
        if absorbed_key is None or survivor_key is None:
            return None
        return (
            self._keyring.cipher_from_wrapped(state.absorbed, absorbed_key),
            self._keyring.cipher_from_wrapped(state.survivor, survivor_key),
        )

    def _move(self, state: MergeState, should_stop: Callable[[], bool]) -> MergeState | None:
        ciphers = self._ciphers(state)
        if ciphers is None:
            return self._follow_survivor(state) and None
        source, target = ciphers
        counts = dict(state.counts)
        while True:
            page = self._store.page(state.absorbed, self._page_size)
            if not page:
                break
            moves = [(item, relocated(item, source, target)) for item in page]
            counted = self._store.move(state.absorbed, state.survivor, moves)
            if counted is None:
                return self._follow_survivor(state) and None
            for name, n in counted.items():
                counts[name] = counts.get(name, 0) + n
            # Not saved: each page's transaction adds its counts to the absorbed profile's merge record itself.
            state = MergeState(state.absorbed, state.survivor, MergeStep.MOVE, state.merged_at, counts)
            if should_stop():
                return state
        # Not saved either: a delivery that resumes in MOVE reads an empty page and comes here; the profile step's
        # own write records the next step. Each save is a write priced on the whole absorbed profile.
        return MergeState(state.absorbed, state.survivor, MergeStep.PROFILE, state.merged_at, counts)

    def _profile(self, state: MergeState) -> MergeState | None:
        ciphers = self._ciphers(state)
        if ciphers is None:
            return self._follow_survivor(state) and None
        source, target = ciphers
        for _ in range(self._attempts):
            read = self._store.profiles(state.absorbed, state.survivor)
            if read is None:
                return self._follow_survivor(state) and None
            absorbed, survivor = read
            winners = merged_fields(survivor, absorbed)
            change = ProfileMerge(
                fields={
                    name: StoredValue(
                        target.encrypt(name, source.decrypt(name, value.blob)), value.confirmed_at, value.channel
                    )
                    for name, value in winners.items()
                },
                consents=merged_consents(survivor.consents, absorbed.consents),
                channels=tuple(sorted(set(absorbed.channels) - set(survivor.channels))),
                last_trace_at=absorbed.last_trace_at
                if absorbed.last_trace_at
                and (survivor.last_trace_at is None or absorbed.last_trace_at > survivor.last_trace_at)
                else None,
                expected_version=survivor.version,
                counters=absorbed.counters,
                at=self._clock(),
                verified=tuple(sorted(name for name in winners if name in absorbed.verified)),
            )
            finished = self._store.finish_profile(state.absorbed, state.survivor, change)
            if finished is None:
                return self._follow_survivor(state) and None
            if finished:
                counts = {
                    **state.counts,
                    "fields_taken": len(change.fields),
                    "consents_taken": len(change.consents),
                }
                # The tombstone's write recorded SHRED; the counts taken here reach the identity log at the end.
                return MergeState(state.absorbed, state.survivor, MergeStep.SHRED, state.merged_at, counts)
        raise MergeContended(state.absorbed)


class MergeContended(Exception):
    """The survivor kept changing under the profile step; the message is re-delivered and the step retried."""
