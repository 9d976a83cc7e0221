"""Data quality per touchpoint: which channels' actions confirm identity and contact fields, and how old each
field is across profiles (the data update program's dashboard).

Pure: the classifier derives a QualityChange from the profile image it classifies, by comparing each field's
confirmation time with what the counters hold of the profile (`quality_counted`); the classification's write is
conditioned on the revision counted before, so a replayed record counts nothing twice, and its tally carries the
counts to the counters (classification/counts.py). Field names, channels, actions, days and counts only: no value.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from touchpoints.classification.classify import ProfileFacts
from touchpoints.classification.funnel import Cause, cause_of
from touchpoints.items import counter as counter_item
from touchpoints.items import profile as profile_item
from touchpoints.model import DataCategory, PersonalField

# Age buckets of the report, in days since a field was last confirmed (inclusive upper bounds; the last is open).
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (("0-30", 30), ("31-90", 90), ("91-365", 365), (">365", None))
NEVER = "never"


def _category(name: str) -> DataCategory | None:
    try:
        return PersonalField(name).category
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class QualityChange:
    """What one classification adds to the data-quality counters, and what the profile then says was counted."""

    day: date
    expected_version: int | None  # the revision counted before, as read (None: never counted)
    version: int
    counted: Mapping[str, str]  # field name -> confirmed at (ISO), as the field-age histogram will hold it
    touchpoint: Cause | None = None  # the touchpoint this revision is, when ingestion wrote it
    confirmed: tuple[str, ...] = ()  # the fields it confirmed or updated
    ages: Mapping[tuple[str, date], int] = field(default_factory=dict)  # (field, confirmation day) -> +1/-1

    @property
    def counts(self) -> bool:
        """Any counter changes with this classification."""
        return self.touchpoint is not None or any(self.ages.values())

    @property
    def measures(self) -> tuple[str, ...]:
        """What the touchpoint counts for (items/counter.py): every touchpoint, and those that confirmed an identity
        field, a contact field, each field. Empty when the revision was no touchpoint."""
        if self.touchpoint is None:
            return ()
        categories = {_category(name) for name in self.confirmed}
        measures = [counter_item.TOUCHPOINTS]
        if DataCategory.IDENTITY in categories:
            measures.append(counter_item.CONFIRMED_IDENTITY)
        if DataCategory.CONTACT in categories:
            measures.append(counter_item.CONFIRMED_CONTACT)
        measures += [counter_item.field_measure(name) for name in self.confirmed]
        return tuple(measures)

    @property
    def touchpoint_counts(self) -> dict[str, int]:
        """The touchpoint's measures by the name each had in one counter per channel and action."""
        if self.touchpoint is None:
            return {}
        channel, action = self.touchpoint.channel, self.touchpoint.action
        return {counter_item.quality_counter(measure, channel, action): 1 for measure in self.measures}


def quality_change(
    *,
    version: int,
    counted_version: int | None,
    counted: Mapping[str, datetime],
    confirmed_at: Mapping[str, datetime | None],
    touchpoint: Cause | None,
    now: datetime,
) -> QualityChange:
    """Compare a profile's fields with what the counters hold of it. A revision ingestion wrote and nobody
    counted yet is a touchpoint: it is credited with every field confirmed since the last count."""
    now_counted = {name: at for name, at in confirmed_at.items() if at is not None and _category(name) is not None}
    is_new_touchpoint = touchpoint is not None and (counted_version is None or counted_version < version)
    confirmed = tuple(sorted(name for name, at in now_counted.items() if counted.get(name) != at))
    ages: Counter[tuple[str, date]] = Counter()
    for name in set(counted) | set(now_counted):
        before, after = counted.get(name), now_counted.get(name)
        before_day, after_day = (before.date() if before else None), (after.date() if after else None)
        if before_day == after_day:
            continue
        if before_day is not None:
            ages[(name, before_day)] -= 1
        if after_day is not None:
            ages[(name, after_day)] += 1
    return QualityChange(
        day=now.date(),
        expected_version=counted_version,
        version=version,
        counted={name: at.isoformat() for name, at in sorted(now_counted.items())},
        touchpoint=touchpoint if is_new_touchpoint else None,
        confirmed=confirmed if is_new_touchpoint else (),
        ages={key: n for key, n in ages.items() if n},
    )


def of_facts(facts: ProfileFacts, now: datetime, cause: Cause) -> QualityChange:
    """The QualityChange of classifying this ProfileFacts at `now` for `cause`. Only the classification of the
    touchpoint itself credits it (not a sweep or new rules); a profile classified before these counters existed
    enters the ages without crediting its whole past to its next touchpoint."""
    before_counters = facts.quality_version is None and facts.classified_version is not None
    is_touchpoint = facts.changed_by == profile_item.WRITER_INGEST and cause == cause_of(facts)
    touchpoint = cause if is_touchpoint and not before_counters else None
    return quality_change(
        version=facts.version,
        counted_version=facts.quality_version,
        counted=facts.quality_counted,
        confirmed_at=facts.field_confirmed_at,
        touchpoint=touchpoint,
        now=now,
    )


def _age_bucket(age_days: int) -> str:
    for name, upper in AGE_BUCKETS:
        if upper is None or age_days <= upper:
            return name
    return AGE_BUCKETS[-1][0]


@dataclass(frozen=True, slots=True)
class DataQualityReport:
    """Per channel and action, the share of touchpoints that confirmed identity or contact fields; per field,
    how long ago profiles last confirmed it. Counts, names and days only: nobody can be seen in it."""

    start: date
    end: date
    generated_at: datetime
    touchpoints: Mapping[tuple[str, str, str], int]  # (measure, channel, action) -> touchpoints
    field_ages: Mapping[tuple[str, date], int]  # (field, day last confirmed) -> profiles
    profiles: int  # active profiles the classifier counts

    def as_dict(self) -> dict[str, Any]:
        by_action: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for (measure, channel, action), n in self.touchpoints.items():
            by_action[(channel, action)][measure] += n
        rows = []
        for (channel, action), measures in sorted(by_action.items()):
            total = measures[counter_item.TOUCHPOINTS]
            if total <= 0:
                continue
            identity, contact = measures[counter_item.CONFIRMED_IDENTITY], measures[counter_item.CONFIRMED_CONTACT]
            fields = {
                name: n
                for measure, n in sorted(measures.items())
                if (name := counter_item.field_of_measure(measure)) is not None and n
            }
            rows.append(
                {
                    "channel": channel,
                    "action": action,
                    "touchpoints": total,
                    "confirmed_identity": identity,
                    "confirmed_contact": contact,
                    "identity_share": round(identity / total, 4),
                    "contact_share": round(contact / total, 4),
                    "fields": fields,
                }
            )
        today = self.generated_at.date()
        ages: dict[str, dict[str, int]] = {
            f.value: {**{name: 0 for name, _ in AGE_BUCKETS}, NEVER: 0} for f in PersonalField
        }
        for (name, day), n in self.field_ages.items():
            if n > 0 and name in ages:
                ages[name][_age_bucket(max((today - day).days, 0))] += n
        for buckets in ages.values():
            buckets[NEVER] = max(self.profiles - sum(buckets.values()), 0)
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "touchpoints": rows,
            "field_age": {
                "profiles": self.profiles,
                "buckets": [name for name, _ in AGE_BUCKETS] + [NEVER],
                "by_field": ages,
            },
        }
