"""The migration funnel: which profiles moved from which state to which, on which day, and what moved them.

Pure: the classifier derives each move from the profile images it reads; the tally of the classification's write
carries it to the counters (classification/counts.py), so a replayed record can never count twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from touchpoints.classification.classify import ProfileFacts
from touchpoints.classification.rules import State
from touchpoints.items import counter as counter_item
from touchpoints.items import profile as profile_item

NONE = counter_item.NONE  # the from-state of a profile classified for the first time
GONE = counter_item.GONE  # the to-state of a profile that left: erased, or merged into another
# The widest date range one funnel report reads: its cost grows with the days, never with the profiles.
MAX_FUNNEL_DAYS = 366


@dataclass(frozen=True, slots=True)
class Cause:
    """What moved a profile: a channel and its action, or time, new rules, compliance, a merge; and the program and
    campaign the touchpoint named, credited with the move (issue 25). A touchpoint's channel and action say which
    touchpoint it was (data quality compares them); the program is what it is credited to, not part of that."""

    channel: str
    action: str
    program: str | None = field(default=None, compare=False)
    campaign_id: str | None = field(default=None, compare=False)


UNKNOWN = Cause("unknown", "unknown")
TIME = Cause("time", "reclassification")  # data went stale, a trace aged out: no touchpoint did it
RULES = Cause("rules", "reclassification")  # new classification rules were deployed
ERASURE = Cause("compliance", "erasure")
MERGE = Cause("identity", "merge")
DELETED = Cause("profile", "deleted")  # the item went away while active (no erasure froze it)


def cause_of(facts: ProfileFacts, image: Mapping[str, Any] | None = None) -> Cause:
    """What made the revision being classified: the touchpoint ingestion last wrote (with the program and campaign
    it named, read from the profile `image`), or the other writer."""
    if facts.changed_by == profile_item.WRITER_INGEST:
        program = _text((image or {}).get(profile_item.LAST_PROGRAM))
        campaign = _text((image or {}).get(profile_item.LAST_CAMPAIGN)) if program else None
        return Cause(facts.last_channel or "unknown", facts.last_action or "unknown", program, campaign)
    if facts.changed_by == profile_item.WRITER_COMPLIANCE:
        return Cause("compliance", "request")
    return Cause(facts.changed_by or "unknown", "update")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Move:
    """One profile moving between states (`none` when new, `gone` when it left), on a day, for a cause."""

    day: date
    from_state: str
    to_state: str
    cause: Cause

    @property
    def key(self) -> tuple[date, str, str, str, str]:
        return (self.day, self.from_state, self.to_state, self.cause.channel, self.cause.action)


@dataclass(frozen=True, slots=True)
class Departure:
    """A counted profile leaving the distribution: it is being erased, was merged away or was deleted."""

    subject_id: str
    origin_channel: str
    counted_state: State | None  # what the distribution holds it in (None: counted nowhere)
    move: Move
    # Its fields leave the data-quality field-age histogram: (field, day confirmed as counted) -> -1
    field_ages: Mapping[tuple[str, date], int] = field(default_factory=dict)


def departure(old_image: Mapping[str, Any], new_image: Mapping[str, Any] | None, now: datetime) -> Departure | None:
    """The departure this change of a profile item is, if it is one: before, the profile was active and
    classified; after, it is frozen for erasure, merged into another profile or deleted. Raises MalformedProfile."""
    if not old_image:
        return None
    before = ProfileFacts.from_item(old_image)
    if not before.active or before.state is None:
        return None
    if new_image:
        after = ProfileFacts.from_item(new_image)
        if after.active:
            return None
        cause = MERGE if after.merged_into else ERASURE
    else:
        cause = DELETED
    return Departure(
        subject_id=before.subject_id,
        origin_channel=before.origin_channel,
        counted_state=before.counted_state,
        move=Move(now.date(), before.state.value, GONE, cause),
        field_ages={(name, at.date()): -1 for name, at in before.quality_counted.items()},
    )


@dataclass(frozen=True, slots=True)
class FunnelReport:
    """How many profiles moved between states per day, channel and action. Counts only: nobody can be seen."""

    start: date
    end: date
    generated_at: datetime
    counts: Mapping[tuple[date, str, str, str, str], int]

    def as_dict(self) -> dict[str, Any]:
        by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
        totals: dict[tuple[str, str, str, str], int] = defaultdict(int)
        for (day, from_state, to_state, channel, action), profiles in sorted(self.counts.items()):
            if not profiles:
                continue
            by_day[day].append(_transition(from_state, to_state, channel, action, profiles))
            totals[(from_state, to_state, channel, action)] += profiles
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "days": [{"day": day.isoformat(), "transitions": moves} for day, moves in sorted(by_day.items())],
            "totals": [_transition(*move, profiles) for move, profiles in sorted(totals.items())],
        }


def _transition(from_state: str, to_state: str, channel: str, action: str, profiles: int) -> dict[str, Any]:
    return {"from": from_state, "to": to_state, "channel": channel, "action": action, "profiles": profiles}
