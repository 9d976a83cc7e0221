"""Keeping each profile's classification current, and the state distribution report.

Storage is reached through the ClassificationStore port; the DynamoDB adapter is in
touchpoints.adapters.classification_store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Any, Protocol

from touchpoints.classification.classify import Classification, MalformedProfile, ProfileFacts, classify
from touchpoints.classification.funnel import (
    MAX_FUNNEL_DAYS,
    NONE,
    RULES,
    TIME,
    UNKNOWN,
    Cause,
    Departure,
    FunnelReport,
    Move,
    cause_of,
    departure,
)
from touchpoints.classification.quality import DataQualityReport, QualityChange, of_facts
from touchpoints.classification.rules import ClassificationRules, State
from touchpoints.model import Channel


@dataclass(frozen=True, slots=True)
class ClassificationWrite:
    """A classification to store, valid only for the profile revision it was computed from."""

    subject_id: str
    origin_channel: str
    expected_version: int
    expected_consent_version: int
    expected_state: State | None  # the state the profile holds now (None: never classified)
    result: Classification
    classified_at: datetime
    # Set by the sweep: the profile's due time as read; the write holds only if nobody reclassified since.
    due_at: datetime | None = None
    # The state the counters hold the profile in, as read; the write holds only if it is still that one.
    counted_state: State | None = None
    cause: Cause = UNKNOWN
    quality: QualityChange | None = None

    @property
    def counts_quality(self) -> bool:
        return self.quality is not None and self.quality.counts

    @property
    def state_changed(self) -> bool:
        return self.expected_state is not self.result.state

    @property
    def moves_the_counts(self) -> bool:
        """The distribution or the funnel changes with this write (the store then writes them in the same
        transaction as the profile, so the profile's revision condition makes a replay count nothing)."""
        return self.state_changed or self.counted_state is not self.result.state

    @property
    def move(self) -> Move | None:
        if not self.state_changed:
            return None
        before = self.expected_state.value if self.expected_state else NONE
        return Move(self.classified_at.date(), before, self.result.state.value, self.cause)


class ClassificationStore(Protocol):
    def save(self, write: ClassificationWrite) -> bool:
        """Store it if the profile is still at that revision and not yet classified there.

        False when it is not (a replayed, reordered or already handled record): nothing changed.
        Raises StorageUnavailable when the store cannot answer.
        """
        ...

    def distribution(self) -> Mapping[tuple[State, str], int]:
        """How many active profiles sit in each (state, origin channel), from the counters."""
        ...

    def funnel(self, start: date, end: date) -> Mapping[tuple[date, str, str, str, str], int]:
        """Moves per (day, from, to, channel, action) between these days (inclusive), from the counters."""
        ...

    def touchpoint_quality(self, start: date, end: date) -> Mapping[tuple[str, str, str], int]:
        """Touchpoints per (measure, channel, action) classified between these days (inclusive), from the counters."""
        ...

    def field_ages(self) -> Mapping[tuple[str, date], int]:
        """Active profiles per (field, day it was last confirmed), from the counters."""
        ...

    def record_departure(self, departure: Departure) -> bool:
        """Take the profile out of the distribution and count its move to `gone`, once: False when this
        departure was counted already (a replayed record). Raises StorageUnavailable."""
        ...

    def count_existing(self, keep_going: Callable[[], bool]) -> CountExistingResult:
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
    STALE = "stale"  # the profile moved on, or another record got there first: nothing to do
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


class ClassifierService:
    """Classifies a changed profile and writes the result back, at most once per profile revision."""

    def __init__(
        self,
        store: ClassificationStore,
        rules: ClassificationRules,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._rules = rules
        self._clock = clock

    def handle(self, image: Mapping[str, Any]) -> ClassifyResult:
        """Classify one profile image from the stream. Raises MalformedProfile or StorageUnavailable."""
        facts = ProfileFacts.from_item(image)
        if not facts.active:
            return ClassifyResult(Outcome.INACTIVE, facts.state)
        if facts.is_classified_under(self._rules.version):
            # The classifier's own write, delivered anyway: writing again would loop.
            return ClassifyResult(Outcome.CURRENT, facts.state, facts.state)
        return self._classify(facts, self._clock(), cause=cause_of(facts))

    def leave(self, old_image: Mapping[str, Any], new_image: Mapping[str, Any] | None) -> ClassifyResult | None:
        """A profile item changed or went away: if it left the counts (erased, merged away, deleted), take it
        out of the distribution and count its move to `gone`, once. None when the change is no departure."""
        gone = departure(old_image, new_image, self._clock())
        if gone is None:
            return None
        before = State(gone.move.from_state)
        if not self._store.record_departure(gone):
            return ClassifyResult(Outcome.CURRENT, before)
        return ClassifyResult(Outcome.LEFT, before)

    def count_existing(self, keep_going: Callable[[], bool]) -> CountExistingResult:
        """After the counters are deployed on a table that holds profiles already: count each once."""
        return self._store.count_existing(keep_going)

    def reclassify_due(self, image: Mapping[str, Any]) -> ClassifyResult:
        """Classify again a profile no touchpoint changed, because time did (stale data, traces ageing out)."""
        facts = ProfileFacts.from_item(image)
        if not facts.active:
            return ClassifyResult(Outcome.INACTIVE, facts.state)
        now = self._clock()
        if facts.reclassify_at is None or facts.reclassify_at > now:
            return ClassifyResult(Outcome.NOT_DUE, facts.state, facts.state)
        return self._classify(facts, now, due_at=facts.reclassify_at, cause=TIME)

    def sweep(self, lookback_days: int, keep_going: Callable[[], bool], concurrency: int = 1) -> SweepResult:
        """Reclassify every profile due by now, oldest day first, while `keep_going()`; what is left stays due."""
        today = self._clock().date()
        days = [today - timedelta(days=back) for back in range(lookback_days, -1, -1)]
        return self._each(self._store.due(days), self.reclassify_due, keep_going, concurrency)

    def reclassify_outdated(self, keep_going: Callable[[], bool], concurrency: int = 1) -> SweepResult:
        """After new rules are deployed: classify again every profile classified under other rules.

        Run it until `complete`: a profile done is no longer listed, so each run goes on where the last stopped.
        """
        return self._each(self._store.outdated(self._rules.version), self.reclassify_now, keep_going, concurrency)

    def reclassify_now(self, image: Mapping[str, Any]) -> ClassifyResult:
        facts = ProfileFacts.from_item(image)
        if not facts.active:
            return ClassifyResult(Outcome.INACTIVE, facts.state)
        if facts.rules_version == self._rules.version:
            return ClassifyResult(Outcome.CURRENT, facts.state, facts.state)
        return self._classify(facts, self._clock(), cause=RULES)

    def _each(
        self,
        subject_ids: Iterable[str],
        reclassify: Callable[[Mapping[str, Any]], ClassifyResult],
        keep_going: Callable[[], bool],
        concurrency: int,
    ) -> SweepResult:
        """Profiles are taken `concurrency` at a time (each a read and a conditional write, mostly waiting on the
        store); `keep_going()` is asked before each group."""

        def one(subject_id: str) -> Outcome:
            image = self._store.load(subject_id)
            if image is None:
                return Outcome.INACTIVE  # erased since the index was read
            try:
                return reclassify(image).outcome
            except MalformedProfile:
                return Outcome.MALFORMED  # one unreadable profile must not stop every later one, run after run

        outcomes: Counter[Outcome] = Counter()
        malformed: list[str] = []
        pending = iter(subject_ids)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            while (going := keep_going()) and (group := list(islice(pending, concurrency))):
                for subject_id, outcome in zip(group, pool.map(one, group), strict=True):
                    outcomes[outcome] += 1
                    if outcome is Outcome.MALFORMED:
                        malformed.append(subject_id)
        return SweepResult(outcomes, malformed, complete=going)

    def _classify(
        self, facts: ProfileFacts, now: datetime, cause: Cause, due_at: datetime | None = None
    ) -> ClassifyResult:
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
        )
        if not self._store.save(write):
            return ClassifyResult(Outcome.STALE, facts.state)
        return ClassifyResult(
            Outcome.CHANGED if write.state_changed else Outcome.REFRESHED, facts.state, write.result.state
        )


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
