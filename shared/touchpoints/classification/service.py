"""Keeping each profile's classification current, and the state distribution report.

Storage is reached through the ClassificationStore port; the DynamoDB adapter is in
touchpoints.adapters.classification_store. How each classification's counts reach the counters once, without a
transaction: touchpoints.classification.counts.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Any, Protocol

from touchpoints.classification.attribution import (
    AttributionPolicy,
    Contact,
    ContactCredit,
    ProgramsReport,
    credited,
    load_attribution_policy,
    more_complete,
)
from touchpoints.classification.audience import Audiences
from touchpoints.classification.audience import decode as decode_audiences
from touchpoints.classification.audience import encode as encode_audiences
from touchpoints.classification.classify import MalformedProfile, ProfileFacts, classify
from touchpoints.classification.counts import (
    Counts,
    Fate,
    Tally,
    TallyKind,
    Token,
    decode,
    encode,
    of_contacts,
    of_departure,
    of_write,
    total,
)
from touchpoints.classification.funnel import (
    MAX_FUNNEL_DAYS,
    NONE,
    RULES,
    TIME,
    Cause,
    Departure,
    FunnelReport,
    cause_of,
    departure,
)
from touchpoints.classification.quality import DataQualityReport, of_facts
from touchpoints.classification.rules import ClassificationRules, State
from touchpoints.classification.write import ClassificationWrite
from touchpoints.errors import StorageUnavailable
from touchpoints.model import Channel

# A refused write is looked into and planned again (the classifier's own bookkeeping may have moved beside the
# revision) at most this often; then the record fails, and Lambda retries it.
_PLANS = 3
# The longest a Lambda invocation runs: the deadline of a tally whose caller did not say.
_LONGEST_INVOCATION = timedelta(minutes=15)
# How long DynamoDB Streams keeps a record: no retry of a record comes later than this.
STREAM_RETENTION = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class DepartureMarker:
    """The marker a departure leaves (one per profile): the tally that counts it, and when it was taken."""

    counts_by: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Revision:
    """Where a profile stands, as far as a classification written on it is concerned."""

    version: int
    consent_version: int
    active: bool

    def left_behind(self, seen: Revision) -> bool:
        """A record showing `seen` can no longer be classified: the profile moved on from it (both versions only
        grow) or is no longer active (it never becomes active again)."""
        return not self.active or self.version > seen.version or self.consent_version > seen.consent_version


class ClassificationStore(Protocol):
    def revisions(self, subject_ids: Collection[str]) -> Mapping[str, Revision]:
        """The profiles' revisions as they stand, read together and eventually consistent: one a moment old may be
        answered, one just created may be missing. Raises StorageUnavailable."""
        ...

    def save(self, write: ClassificationWrite) -> bool:
        """Store it if the profile is still at that revision, not yet classified there, and its counts'
        bookkeeping is as read. False when it is not: nothing changed. Raises StorageUnavailable."""
        ...

    def retag(self, subject_id: str, counted_by: str, now_by: str) -> bool:
        """Move the profile's last classification from the tally that counted it to another, if it is still that
        one's. Raises StorageUnavailable."""
        ...

    def record_departure(self, departure: Departure, counts_by: str) -> bool:
        """Leave the profile's departure marker, counted by this tally, unless one is there (False: a replayed
        record). Raises StorageUnavailable."""
        ...

    def departure_marker(self, subject_id: str) -> DepartureMarker | None:
        """The departure marker as it stands (None: none). Raises StorageUnavailable."""
        ...

    def retag_departure(self, subject_id: str, counted_by: str, now_by: str) -> bool:
        """`retag` for a departure marker."""
        ...

    def fate(self, token: str, abort: bool) -> Fate:
        """A tally's fate; when it is OPEN and `abort`, first make it ABORTED (unless it commits first).
        Raises StorageUnavailable."""
        ...

    def commit(self, tally: Tally) -> None:
        """Record the tally COMMITTED with what it counted, and apply that to the counters; what a counter refuses
        is applied by a later `settle`. Raises StorageUnavailable when the commit could not be recorded."""
        ...

    def settle(self, deadline: datetime) -> int:
        """Apply what earlier tallies left for later (their counters refused, their invocation died), while the
        caller runs until `deadline`. How many tallies it settled; never raises."""
        ...

    def distribution(self) -> Mapping[tuple[State, str], int]:
        """How many active profiles sit in each (state, origin channel), from the counters."""
        ...

    def funnel(self, start: date, end: date) -> Mapping[tuple[date, str, str, str, str], int]:
        """Moves per (day, from, to, channel, action) between these days (inclusive), from the counters."""
        ...

    def program_moves(self, start: date, end: date) -> Mapping[tuple[date, str, str, str, str, str, str | None], int]:
        """Moves of touchpoints that named a program, per (day, from, to, channel, action, program, campaign or
        None) between these days (inclusive), from the funnel's counters."""
        ...

    def contacted_moves(self, start: date, end: date) -> Mapping[tuple[date, str, str | None, str, str, str], int]:
        """Moves to a more complete state within the attribution window of a contact, per (day, program, campaign
        or None, contact channel, from, to) between these days (inclusive), from the counters."""
        ...

    def contacts(self, subject_id: str) -> list[Contact]:
        """The contacts the person was sent, as their contact history keeps them. Raises StorageUnavailable."""
        ...

    def touchpoint_quality(self, start: date, end: date) -> Mapping[tuple[str, str, str], int]:
        """Touchpoints per (measure, channel, action) classified between these days (inclusive), from the counters."""
        ...

    def field_ages(self) -> Mapping[tuple[str, date], int]:
        """Active profiles per (field, day it was last confirmed), from the counters."""
        ...

    def count_existing(self, keep_going: Callable[[], bool], deadline: datetime) -> CountExistingResult:
        """Count in the distribution every classified profile not counted yet (those classified before the
        counters existed), going on from where the last run stopped. Idempotent: a profile counts once."""
        ...

    def due(self, days: list[date]) -> Iterator[str]:
        """Subject ids whose classification time alone may change on one of these days."""
        ...

    def outdated(self, rules_version: str) -> Iterator[str]:
        """Subject ids of active profiles classified under other rules than these."""
        ...

    def load(self, subject_id: str) -> Mapping[str, Any] | None:
        """The profile item as stored (deserialized), or None when it is gone."""
        ...


class Outcome(StrEnum):
    CHANGED = "changed"  # written, and the state moved
    REFRESHED = "refreshed"  # written, same state (new freshness, recommendations...)
    CURRENT = "current"  # this revision was already classified: nothing to do
    STALE = "stale"  # the profile moved on, another record got there first, or its counts are busy: nothing now
    NOT_DUE = "not_due"  # swept, but time has not changed its classification yet
    MALFORMED = "malformed"  # swept, but the item cannot be read as a profile: skipped, logged by subject id
    INACTIVE = "inactive"  # being erased: not classified
    LEFT = "left"  # erased, merged away or deleted: taken out of the distribution, its move counted


@dataclass(frozen=True, slots=True)
class ClassifyResult:
    outcome: Outcome
    previous: State | None = None
    state: State | None = None


@dataclass(frozen=True, slots=True)
class SweepResult:
    outcomes: Counter[Outcome]
    malformed: list[str]  # subject ids, to look into
    complete: bool  # False: stopped for time; what is left is taken by the next run


@dataclass(frozen=True, slots=True)
class CountExistingResult:
    counted: int  # profiles added to the distribution
    already: int  # counted already (classified since the counters exist, or by an earlier run)
    complete: bool  # False: stopped for time; the next run goes on from the checkpoint


def _beside(facts: ProfileFacts, current: ProfileFacts) -> ProfileFacts:
    """The revision read, with what the classifier family keeps beside it as it stands now."""
    return dataclasses.replace(
        facts,
        state=current.state,
        classified_version=current.classified_version,
        classified_consent_version=current.classified_consent_version,
        rules_version=current.rules_version,
        reclassify_at=current.reclassify_at,
        counted_state=current.counted_state,
        quality_version=current.quality_version,
        quality_counted=current.quality_counted,
        classified_at=current.classified_at,
        counts_by=current.counts_by,
        counts_pending=current.counts_pending,
        audiences=current.audiences,
    )


class ClassifierService:
    """Classifies a changed profile and writes the result back, at most once per profile revision; each
    classification is counted by the tally of its unit of work (a stream batch, a sweep group)."""

    def __init__(
        self,
        store: ClassificationStore,
        rules: ClassificationRules,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        attribution: AttributionPolicy | None = None,
        audiences: Audiences | None = None,
    ) -> None:
        self._store = store
        self._rules = rules
        self._clock = clock
        self._audiences = audiences  # None: no audience is kept (the wiring hands them in)
        # None: no move is credited to the programs that contacted the person (the wiring hands the policy in)
        self._attribution_days = attribution.attribution_days if attribution is not None else 0

    def open_tally(self, deadline: datetime, kind: TallyKind = TallyKind.STREAM) -> Tally:
        """The tally of a unit of work that ends by `deadline` at the latest (a Lambda invocation's)."""
        return Tally.open(kind, deadline)

    def close(self, tally: Tally) -> None:
        """Commit what the tally counted, then settle what earlier tallies left. Raises StorageUnavailable when
        the commit could not be recorded: the unit of work must then be retried (its records delivered again)."""
        self._store.commit(tally)
        self._store.settle(tally.token.deadline)

    def left_behind(self, seen: Mapping[str, tuple[str, Revision]]) -> frozenset[str]:
        """Of these records (each: the profile and the revision it shows), those whose profile has moved on since:
        their classification would be written on a condition that no longer holds, a conditional write sure to
        fail. The later revision's own record classifies the profile. One read for all; when it fails, none is
        left out, and each write's condition still decides."""
        if not seen:
            return frozenset()
        try:
            current = self._store.revisions({subject_id for subject_id, _ in seen.values()})
        except StorageUnavailable:
            return frozenset()
        return frozenset(
            record
            for record, (subject_id, revision) in seen.items()
            if (now := current.get(subject_id)) is not None and now.left_behind(revision)
        )

    def handle(self, image: Mapping[str, Any], tally: Tally) -> ClassifyResult:
        """Classify one profile image from the stream. Raises MalformedProfile or StorageUnavailable."""
        facts = ProfileFacts.from_item(image)
        if not facts.active:
            return ClassifyResult(Outcome.INACTIVE, facts.state)
        if facts.is_classified_under(self._rules.version):
            # The classifier's own write, delivered anyway: writing again would loop.
            return ClassifyResult(Outcome.CURRENT, facts.state, facts.state)
        return self._classify(facts, self._clock(), cause_of(facts, image), tally)

    def leave(
        self, old_image: Mapping[str, Any], new_image: Mapping[str, Any] | None, tally: Tally
    ) -> ClassifyResult | None:
        """A profile item changed or went away: if it left the counts (erased, merged away, deleted), take it
        out of the distribution and count its move to `gone`, once. None when the change is no departure."""
        now = self._clock()
        gone = departure(old_image, new_image, now)
        if gone is None:
            return None
        if self._audiences is not None:
            self._audiences.store.sync(gone.subject_id, {})  # an erased or merged person leaves every audience
        before = State(gone.move.from_state)
        parked = self._parked_with(ProfileFacts.from_item(old_image), tally, now)
        tally.named = True
        for _ in range(_PLANS):
            if self._store.record_departure(gone, tally.token.value):
                tally.add(total(of_departure(gone), parked))
                return ClassifyResult(Outcome.LEFT, before)
            marker = self._store.departure_marker(gone.subject_id)
            if marker is None:
                continue  # refused, yet no marker: write it again
            by = marker.counts_by
            if by is not None and by != tally.token.value and self._fate(by, tally, abort=True) is Fate.ABORTED:
                # Its tally died before committing: count it as that one took it.
                taken = departure(old_image, new_image, marker.at)
                if taken is not None and self._store.retag_departure(gone.subject_id, by, tally.token.value):
                    tally.add(total(of_departure(taken), parked))
            return ClassifyResult(Outcome.CURRENT, before)
        raise StorageUnavailable("the departure marker could not be written; the record is retried")

    def _parked_with(self, facts: ProfileFacts, tally: Tally, now: datetime) -> Counts:
        """The counts parked on a departing profile that it takes along: those whose tally died without committing
        (one still running commits them itself)."""
        if facts.counts_pending is None:
            return Counter()
        fate, parked = self._parked(facts.counts_pending, tally, now)
        return parked if fate is Fate.ABORTED else Counter()

    def count_existing(self, keep_going: Callable[[], bool], deadline: datetime | None = None) -> CountExistingResult:
        """After the counters are deployed on a table that holds profiles already: count each once."""
        return self._store.count_existing(keep_going, deadline or self._clock() + _LONGEST_INVOCATION)

    def settle(self, deadline: datetime) -> int:
        """Apply what earlier tallies left for later (see ClassificationStore.settle)."""
        return self._store.settle(deadline)

    def reclassify_due(self, image: Mapping[str, Any], tally: Tally) -> ClassifyResult:
        """Classify again a profile no touchpoint changed, because time did (stale data, traces ageing out)."""
        facts = ProfileFacts.from_item(image)
        if not facts.active:
            return ClassifyResult(Outcome.INACTIVE, facts.state)
        now = self._clock()
        if facts.reclassify_at is None or facts.reclassify_at > now:
            return ClassifyResult(Outcome.NOT_DUE, facts.state, facts.state)
        return self._classify(facts, now, TIME, tally, due_at=facts.reclassify_at)

    def sweep(
        self, lookback_days: int, keep_going: Callable[[], bool], concurrency: int = 1, deadline: datetime | None = None
    ) -> SweepResult:
        """Reclassify every profile due by now, oldest day first, while `keep_going()`; what is left stays due."""
        today = self._clock().date()
        days = [today - timedelta(days=back) for back in range(lookback_days, -1, -1)]
        return self._each(self._store.due(days), self.reclassify_due, keep_going, concurrency, deadline)

    def reclassify_outdated(
        self, keep_going: Callable[[], bool], concurrency: int = 1, deadline: datetime | None = None
    ) -> SweepResult:
        """After new rules are deployed: classify again every profile classified under other rules.

        Run it until `complete`: a profile done is no longer listed, so each run goes on where the last stopped.
        """
        outdated = self._store.outdated(self._rules.version)
        return self._each(outdated, self.reclassify_now, keep_going, concurrency, deadline)

    def reclassify_now(self, image: Mapping[str, Any], tally: Tally) -> ClassifyResult:
        facts = ProfileFacts.from_item(image)
        if not facts.active:
            return ClassifyResult(Outcome.INACTIVE, facts.state)
        if facts.rules_version == self._rules.version:
            return ClassifyResult(Outcome.CURRENT, facts.state, facts.state)
        return self._classify(facts, self._clock(), RULES, tally)

    def _each(
        self,
        subject_ids: Iterable[str],
        reclassify: Callable[[Mapping[str, Any], Tally], ClassifyResult],
        keep_going: Callable[[], bool],
        concurrency: int,
        deadline: datetime | None,
    ) -> SweepResult:
        """Profiles are taken `concurrency` at a time (each a read and a conditional write, mostly waiting on the
        store); `keep_going()` is asked before each group, whose counts are committed together."""
        until = deadline or self._clock() + _LONGEST_INVOCATION

        def one(subject_id: str, tally: Tally) -> Outcome:
            image = self._store.load(subject_id)
            if image is None:
                return Outcome.INACTIVE  # erased since the index was read
            try:
                return reclassify(image, tally).outcome
            except MalformedProfile:
                return Outcome.MALFORMED  # one unreadable profile must not stop every later one, run after run

        outcomes: Counter[Outcome] = Counter()
        malformed: list[str] = []
        pending = iter(subject_ids)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            while (going := keep_going()) and (group := list(islice(pending, concurrency))):
                tally = self.open_tally(until, TallyKind.PARKED)
                done = list(pool.map(one, group, [tally] * len(group)))
                self._store.commit(tally)
                for subject_id, outcome in zip(group, done, strict=True):
                    outcomes[outcome] += 1
                    if outcome is Outcome.MALFORMED:
                        malformed.append(subject_id)
        self._store.settle(until)
        return SweepResult(outcomes, malformed, complete=going)

    def _classify(
        self, facts: ProfileFacts, now: datetime, cause: Cause, tally: Tally, due_at: datetime | None = None
    ) -> ClassifyResult:
        contacted: dict[datetime, tuple[ContactCredit, ...]] = {}  # read once per move, whatever the plans
        for _ in range(_PLANS):
            planned = self._plan(facts, now, cause, tally, due_at, contacted)
            if planned is None:
                return ClassifyResult(Outcome.STALE, facts.state)
            write, taken = planned
            if self._store.save(write):
                tally.add(taken)
                self._keep_audiences(write)
                return ClassifyResult(
                    Outcome.CHANGED if write.state_changed else Outcome.REFRESHED, facts.state, write.result.state
                )
            current = self._current(facts.subject_id)
            if (
                current is None
                or not current.active
                or (current.version, current.consent_version) != (facts.version, facts.consent_version)
                or (due_at is not None and current.reclassify_at != due_at)
            ):
                return ClassifyResult(Outcome.STALE, facts.state)  # the profile moved on: its own record classifies it
            if due_at is None and current.is_classified_under(self._rules.version):
                return self._recount(facts, current, cause, tally)
            facts = _beside(facts, current)  # only the classifier's bookkeeping moved: plan again from it
        raise StorageUnavailable("the profile's classification kept being refused; the record is retried")

    def _write(self, facts: ProfileFacts, now: datetime, cause: Cause, due_at: datetime | None) -> ClassificationWrite:
        write = ClassificationWrite(
            subject_id=facts.subject_id,
            origin_channel=facts.origin_channel,
            expected_version=facts.version,
            expected_consent_version=facts.consent_version,
            expected_state=facts.state,
            result=classify(facts, self._rules, now),
            classified_at=now,
            due_at=due_at,
            counted_state=facts.counted_state,
            cause=cause,
            quality=of_facts(facts, now, cause),
            counts_by_seen=facts.counts_by,
            pending_seen=facts.counts_pending,
        )
        if self._audiences is None:
            return write
        members = self._audiences.rules.membership(
            write.result.recommendations, facts.consents, frozenset(facts.field_confirmed_at), now
        )
        return dataclasses.replace(write, audiences_seen=facts.audiences, audiences=encode_audiences(members))

    def _keep_audiences(self, write: ClassificationWrite) -> None:
        """After the profile took the write: its membership items, only when they change. A crash before they are
        written leaves the record to be retried, and its retry finds the profile classified (`_recount`)."""
        if self._audiences is None or write.audiences is None:
            return
        if write.audiences != (write.audiences_seen or ""):
            self._audiences.store.sync(write.subject_id, decode_audiences(write.audiences))

    def _credits(
        self, write: ClassificationWrite, contacted: dict[datetime, tuple[ContactCredit, ...]]
    ) -> tuple[ContactCredit, ...]:
        """The programs and campaigns that contacted the person before this write's move (policies/attribution.yaml):
        the contact history is read only for a move to a more complete state, once per move."""
        move, days = write.move, self._attribution_days
        if move is None or not days or not more_complete(move.from_state, move.to_state):
            return ()
        if move.from_state == NONE:
            return ()  # a profile classified for the first time: no contact can have named it yet
        if write.classified_at not in contacted:
            history = self._store.contacts(write.subject_id)
            contacted[write.classified_at] = credited(history, write.classified_at, days)
        return contacted[write.classified_at]

    def _counts(self, write: ClassificationWrite, contacted: dict[datetime, tuple[ContactCredit, ...]]) -> Counts:
        """What the write adds to the counters if it holds, its move's credits to programs contacting the person
        included."""
        return total(of_write(write), of_contacts(write.move, self._credits(write, contacted)))

    def _plan(
        self,
        facts: ProfileFacts,
        now: datetime,
        cause: Cause,
        tally: Tally,
        due_at: datetime | None,
        contacted: dict[datetime, tuple[ContactCredit, ...]],
    ) -> tuple[ClassificationWrite, Counts] | None:
        """The write, with the bookkeeping of its counts, and what the tally takes if it holds. None when the
        profile's counts are busy with another tally (a sweep leaves the profile due; the stream never waits)."""
        write = self._write(facts, now, cause, due_at)
        own = self._counts(write, contacted)
        parked: Counts = Counter()
        pending = facts.counts_pending
        if pending is not None:
            fate, counts = self._parked(pending, tally, now)
            if fate is Fate.OPEN and tally.parks:
                return None  # one tally's counts park on a profile at a time
            if fate is not Fate.OPEN:
                parked, pending = (counts if fate is Fate.ABORTED else Counter()), None
        if tally.parks:
            if facts.counts_by is not None and not self._settled(facts.counts_by, tally, now):
                return None  # a stream batch's counts still open: only the retry of its record can take them
            taken = total(own, parked)
            park = encode(tally.token.value, taken) if taken else None
            if park is not None:
                tally.named = tally.parked = True
            return dataclasses.replace(write, counts_by=None, pending=park), taken
        if parked:
            pending = encode(tally.token.value, parked)  # taken over: kept on the profile until this tally commits
            tally.named = tally.parked = True
        by = tally.token.value if own else None
        tally.named = tally.named or by is not None
        return dataclasses.replace(write, counts_by=by, pending=pending), total(own, parked)

    def _settled(self, counts_by: str, tally: Tally, now: datetime) -> bool:
        """Whether a writer other than the stream may replace the profile's `counts_by`: its tally committed, or
        no retry of its records can come any more (the stream keeps them STREAM_RETENTION; after that, counts of
        a batch that failed every retry are the known gap of classification/counts.py)."""
        token = Token.parse(counts_by)
        retried = token is not None and not token.over(now - STREAM_RETENTION)
        return self._fate(counts_by, tally, abort=not retried) is Fate.COMMITTED or not retried

    def _parked(self, pending: str, tally: Tally, now: datetime) -> tuple[Fate, Counts]:
        """The fate of counts parked on a profile, and the counts; a tally past its deadline is aborted first."""
        try:
            value, counts = decode(pending)
        except (ValueError, KeyError, TypeError):
            return Fate.COMMITTED, Counter()  # not ours to read: nothing to take
        token = Token.parse(value)
        if token is None:
            return Fate.COMMITTED, Counter()
        return self._fate(value, tally, abort=token.over(now)), counts

    def _fate(self, token: str, tally: Tally, abort: bool) -> Fate:
        known = tally.fates.get(token)
        if known is None or known is Fate.OPEN:
            known = tally.fates[token] = self._store.fate(token, abort)
        return known

    def _current(self, subject_id: str) -> ProfileFacts | None:
        item = self._store.load(subject_id)
        try:
            return None if item is None else ProfileFacts.from_item(item)
        except MalformedProfile:
            return None

    def _recount(self, facts: ProfileFacts, current: ProfileFacts, cause: Cause, tally: Tally) -> ClassifyResult:
        """This revision is classified already (a replay, a retry). If the tally that counted it died before
        committing, count it as that tally did: the same image, at the time it was classified."""
        result = ClassifyResult(Outcome.CURRENT, current.state, current.state)
        if self._audiences is not None:
            self._audiences.store.sync(current.subject_id, decode_audiences(current.audiences))
        by = current.counts_by
        if tally.parks or by is None or by == tally.token.value or current.classified_at is None:
            return result
        if self._fate(by, tally, abort=True) is not Fate.ABORTED:
            return result  # its own tally counted it
        write = self._write(facts, current.classified_at, cause, None)
        tally.named = True
        if write.result.state is current.state and self._store.retag(facts.subject_id, by, tally.token.value):
            tally.add(self._counts(write, {}))
        return result


ORIGIN_CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)


@dataclass(frozen=True, slots=True)
class StateReport:
    """How many profiles sit in each state, per channel of origin. Counts only: no person can be seen in it."""

    rules_version: str
    generated_at: datetime
    counts: Mapping[tuple[State, str], int]

    def as_dict(self) -> dict[str, Any]:
        origins = sorted({*ORIGIN_CHANNELS, *(origin for _, origin in self.counts)})
        by_origin = {
            origin: {state.value: self.counts.get((state, origin), 0) for state in State} for origin in origins
        }
        by_state = {state.value: sum(by_origin[o][state.value] for o in origins) for state in State}
        return {
            "rules_version": self.rules_version,
            "generated_at": self.generated_at.isoformat(),
            "total": sum(by_state.values()),
            "by_state": by_state,
            "by_origin": by_origin,
        }


def state_report(
    store: ClassificationStore, rules: ClassificationRules, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> StateReport:
    """The current distribution of active profiles over the states, read from the counters."""
    return StateReport(rules.version, clock(), dict(store.distribution()))


class FunnelRangeInvalid(ValueError):
    """The funnel's date range is reversed or wider than MAX_FUNNEL_DAYS."""


def check_report_range(start: date, end: date) -> None:
    """A report's range of days: raises FunnelRangeInvalid when it is reversed or wider than MAX_FUNNEL_DAYS."""
    if end < start:
        raise FunnelRangeInvalid("the range ends before it starts")
    if (end - start).days + 1 > MAX_FUNNEL_DAYS:
        raise FunnelRangeInvalid(f"the range is wider than {MAX_FUNNEL_DAYS} days")


def funnel_report(
    store: ClassificationStore,
    start: date,
    end: date,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> FunnelReport:
    """The moves between states per day, channel and action from `start` to `end` (inclusive)."""
    if end < start:
        raise FunnelRangeInvalid("the range ends before it starts")
    if (end - start).days + 1 > MAX_FUNNEL_DAYS:
        raise FunnelRangeInvalid(f"the range is wider than {MAX_FUNNEL_DAYS} days")
    return FunnelReport(start, end, clock(), dict(store.funnel(start, end)))


def programs_report(
    store: ClassificationStore,
    start: date,
    end: date,
    contacts_sent: Mapping[tuple[str, str | None, str], int],
    audience_pulled: Mapping[tuple[str, str | None], int],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    attribution: AttributionPolicy | None = None,
) -> ProgramsReport:
    """Per program and campaign from `start` to `end` (inclusive): the audience pulled and the contacts sent (read
    by the caller from their counters; contacts that named no program are left out), and the moves credited to it,
    from the classifier's counters. Its cost grows with the days, programs and campaigns, never with the profiles."""
    check_report_range(start, end)
    sent: Counter[tuple[str, str | None, str]] = Counter()
    for (program, campaign, channel), n in contacts_sent.items():
        if program:
            sent[(program, campaign or None, channel)] += n
    pulled: Counter[tuple[str, str | None]] = Counter()
    for (program, campaign), n in audience_pulled.items():
        pulled[(program, campaign or None)] += n
    return ProgramsReport(
        start=start,
        end=end,
        generated_at=clock(),
        attribution_days=(attribution or load_attribution_policy()).attribution_days,
        moves=dict(store.program_moves(start, end)),
        after_contact=dict(store.contacted_moves(start, end)),
        contacts_sent=dict(sent),
        audience_pulled=dict(pulled),
    )


def data_quality_report(
    store: ClassificationStore,
    start: date,
    end: date,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DataQualityReport:
    """Touchpoints that confirmed identity or contact fields per channel and action from `start` to `end`
    (inclusive), and the age of each field across the active profiles now. Read from the counters only."""
    if end < start:
        raise FunnelRangeInvalid("the range ends before it starts")
    if (end - start).days + 1 > MAX_FUNNEL_DAYS:
        raise FunnelRangeInvalid(f"the range is wider than {MAX_FUNNEL_DAYS} days")
    profiles = sum(store.distribution().values())
    return DataQualityReport(
        start, end, clock(), dict(store.touchpoint_quality(start, end)), dict(store.field_ages()), profiles
    )
