"""classify(profile, rules, now): the profile's I/C/T dimensions, state, freshness and programs.

Pure: reads a profile as stored (field names and confirmation times, consents, trace
counters), never a personal value, and never calls AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from touchpoints.classification.rules import DIMENSION_ORDER, ClassificationRules, Dimension, State
from touchpoints.consent import ConsentRecord, is_allowed
from touchpoints.items import profile as profile_item
from touchpoints.model import DataCategory, PersonalField, TraceKind

ACTIVE = profile_item.ACTIVE


class MalformedProfile(ValueError):
    """The profile image lacks what classification needs. The message names the attribute, never a value."""


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _int(value: Any, default: int | None = None) -> int:
    if value is None:
        if default is None:
            raise MalformedProfile("a number is missing")
        return default
    if isinstance(value, int | Decimal | str):
        return int(value)
    raise MalformedProfile("a number has the wrong type")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedProfile("a text has the wrong type")
    return value


@dataclass(frozen=True, slots=True)
class ProfileFacts:
    """What classification reads of a profile item: names, times and counters, no personal values."""

    subject_id: str
    status: str
    origin_channel: str
    version: int
    consent_version: int
    field_confirmed_at: Mapping[str, datetime | None]
    consents: Mapping[str, ConsentRecord]
    trace_counts: Mapping[TraceKind, int]
    last_trace_at: datetime | None
    state: State | None = None
    classified_version: int | None = None
    classified_consent_version: int | None = None
    rules_version: str | None = None
    reclassify_at: datetime | None = None
    counted_state: State | None = None  # the state the counters hold this profile in (None: not counted)
    merged_into: str | None = None
    changed_by: str = ""
    last_channel: str | None = None
    last_action: str | None = None
    quality_version: int | None = None  # the revision the data-quality counters last counted (None: never)
    quality_counted: Mapping[str, datetime] = field(default_factory=dict)  # field -> confirmed at, as counted
    classified_at: datetime | None = None
    counts_by: str | None = None  # the tally that counts the last classification (classification/counts.py)
    counts_pending: str | None = None  # counts parked on the profile until their tally commits
    audiences: str | None = None  # the audiences it is kept in, as stored (classification/audience.py)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ProfileFacts:
        """From a deserialized profile item (a stream's NewImage). Encrypted values are not looked at."""
        try:
            subject_id = str(item[profile_item.SUBJECT_ID])
            version = _int(item.get(profile_item.VERSION))
            fields = {
                str(name): _time(value.get(profile_item.FIELD_CONFIRMED_AT) if isinstance(value, Mapping) else None)
                for name, value in (item.get(profile_item.FIELDS) or {}).items()
            }
            consents = {
                str(key): ConsentRecord(
                    granted=bool(value[profile_item.CONSENT_GRANTED]),
                    collected_at=_time(value[profile_item.CONSENT_AT]) or datetime.min.replace(tzinfo=UTC),
                    source=str(value.get(profile_item.CONSENT_SOURCE, "")),
                    policy_version=str(value.get(profile_item.CONSENT_POLICY_VERSION, "")),
                )
                for key, value in (item.get(profile_item.CONSENTS) or {}).items()
            }
            classified = item.get(profile_item.CLASSIFIED_VERSION)
            classified_cv = item.get(profile_item.CLASSIFIED_CONSENT_VERSION)
            state = item.get(profile_item.STATE)
            counted = item.get(profile_item.COUNTED_STATE)
            quality_version = item.get(profile_item.QUALITY_VERSION)
            quality_counted = {
                str(name): at
                for name, value in (item.get(profile_item.QUALITY_COUNTED) or {}).items()
                if (at := _time(value)) is not None
            }
            return cls(
                subject_id=subject_id,
                status=str(item.get(profile_item.STATUS, "")),
                origin_channel=str(item.get(profile_item.ORIGIN_CHANNEL) or "unknown"),
                version=version,
                consent_version=_int(item.get(profile_item.CONSENT_VERSION), 0),
                field_confirmed_at=fields,
                consents=consents,
                trace_counts={kind: _int(item.get(name), 0) for kind, name in profile_item.TRACE_COUNTERS.items()},
                last_trace_at=_time(item.get(profile_item.LAST_TRACE_AT)),
                state=State(state) if state else None,
                classified_version=None if classified is None else _int(classified),
                classified_consent_version=None if classified_cv is None else _int(classified_cv),
                rules_version=item.get(profile_item.RULES_VERSION),
                reclassify_at=_time(item.get(profile_item.RECLASSIFY_AT)),
                counted_state=State(counted) if counted else None,
                merged_into=item.get(profile_item.MERGED_INTO),
                changed_by=str(item.get(profile_item.CHANGED_BY, "")),
                last_channel=item.get(profile_item.LAST_CHANNEL),
                last_action=item.get(profile_item.LAST_ACTION),
                quality_version=None if quality_version is None else _int(quality_version),
                quality_counted=quality_counted,
                classified_at=_time(item.get(profile_item.CLASSIFIED_AT)),
                counts_by=_text(item.get(profile_item.COUNTS_BY)),
                counts_pending=_text(item.get(profile_item.COUNTS_PENDING)),
                audiences=_text(item.get(profile_item.AUDIENCES)),
            )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, MalformedProfile):
                raise
            raise MalformedProfile(f"the profile image cannot be read ({type(error).__name__})") from None

    @property
    def active(self) -> bool:
        """Counted and classified: not being erased, and not merged into another profile."""
        return self.status == ACTIVE and not self.merged_into

    def is_classified_under(self, rules_version: str) -> bool:
        """This exact revision (data and consents) was already classified under these rules."""
        return (
            self.classified_version == self.version
            and self.classified_consent_version == self.consent_version
            and self.rules_version == rules_version
        )


@dataclass(frozen=True, slots=True)
class Classification:
    """A profile's place in the I/C/T diagram and what would move it toward A. Holds no personal data."""

    state: State
    dimensions: tuple[Dimension, ...]
    missing: tuple[Dimension, ...]
    identity_by: tuple[str, ...]  # the identity fields that made I present
    contact_channels: tuple[str, ...]  # channels the customer may be contacted on
    trace_kinds: tuple[TraceKind, ...]  # kinds of trace still counting
    stale_fields: tuple[str, ...]
    recommendations: tuple[str, ...]  # program ids, best first
    rules_version: str
    scores: Mapping[str, int] = field(default_factory=dict)
    # When time alone (a field going stale, a trace ageing out) next changes this result; None: never.
    reclassify_at: datetime | None = None


def _known_field(name: str) -> PersonalField | None:
    try:
        return PersonalField(name)
    except ValueError:
        return None


def _stale_fields(facts: ProfileFacts, rules: ClassificationRules, now: datetime) -> tuple[str, ...]:
    stale = []
    for name, confirmed in sorted(facts.field_confirmed_at.items()):
        known = _known_field(name)
        if known is None:
            continue
        limit = timedelta(days=rules.freshness.days(known.category))
        if confirmed is None or now - confirmed > limit:
            stale.append(name)
    return tuple(stale)


def _next_change(facts: ProfileFacts, rules: ClassificationRules, now: datetime) -> datetime | None:
    # A field is stale, or a trace no longer counts, once its age exceeds the limit: one second past it.
    moments = [
        confirmed + timedelta(days=rules.freshness.days(known.category), seconds=1)
        for name, confirmed in facts.field_confirmed_at.items()
        if confirmed is not None and (known := _known_field(name)) is not None
    ]
    if facts.last_trace_at is not None:
        moments.extend(
            facts.last_trace_at + timedelta(days=rule.counts_for_days, seconds=1)
            for kind, rule in rules.traceability.kinds.items()
            if facts.trace_counts.get(kind, 0) > 0
        )
    return min((moment for moment in moments if moment > now), default=None)


def _identity(facts: ProfileFacts, rules: ClassificationRules) -> tuple[str, ...]:
    held = set(facts.field_confirmed_at)
    for fields in rules.identity.any_of:
        if {f.value for f in fields} <= held:
            return tuple(sorted(f.value for f in fields))
    return ()


def _contact_channels(facts: ProfileFacts, rules: ClassificationRules, stale: tuple[str, ...]) -> tuple[str, ...]:
    contact = rules.contactability
    channels = set()
    for name in facts.field_confirmed_at:
        known = _known_field(name)
        if known is None or known not in contact.channels:
            continue
        if name in stale and not rules.freshness.stale_contact_counts:
            continue
        if is_allowed(contact.purpose, contact.channels[known], facts.consents):
            channels.add(contact.channels[known])
    return tuple(sorted(channels))


def _trace_kinds(facts: ProfileFacts, rules: ClassificationRules, now: datetime) -> tuple[TraceKind, ...]:
    if facts.last_trace_at is None:
        return ()
    age = now - facts.last_trace_at
    return tuple(
        kind
        for kind, rule in rules.traceability.kinds.items()
        if facts.trace_counts.get(kind, 0) > 0 and age <= timedelta(days=rule.counts_for_days)
    )


def _stale_dimensions(stale: tuple[str, ...]) -> set[Dimension]:
    dimensions = set()
    for name in stale:
        known = _known_field(name)
        if known is not None:
            is_identity = known.category is DataCategory.IDENTITY
            dimensions.add(Dimension.IDENTITY if is_identity else Dimension.CONTACTABILITY)
    return dimensions


def rank_programs(
    rules: ClassificationRules, state: State, stale_dimensions: set[Dimension]
) -> tuple[tuple[str, ...], dict[str, int]]:
    """Programs that would move this profile, best first (ties keep the rules' order), with their scores."""
    held, missing = state.dimensions, set(DIMENSION_ORDER) - state.dimensions
    weights = rules.ranking
    scores: dict[str, int] = {}
    for program_id, program in rules.programs.items():
        if not program.needs <= held:
            continue
        score = (
            weights.per_missing_dimension * len(program.fills & missing)
            + weights.per_stale_dimension * len(program.refreshes & stale_dimensions)
            + (weights.sustains_state if state in program.sustains else 0)
        )
        if score > 0:
            scores[program_id] = score
    ranked = sorted(scores, key=lambda p: -scores[p])  # stable: ties keep the file's order
    return tuple(ranked[: weights.max_recommendations]), scores


def classify(facts: ProfileFacts, rules: ClassificationRules, now: datetime) -> Classification:
    """Which of I, C, T the profile holds at `now`, its state letter, what is stale and which programs fit."""
    stale = _stale_fields(facts, rules, now)
    identity_by = _identity(facts, rules)
    channels = _contact_channels(facts, rules, stale)
    trace_kinds = _trace_kinds(facts, rules, now)
    present = {
        Dimension.IDENTITY: bool(identity_by),
        Dimension.CONTACTABILITY: bool(channels),
        Dimension.TRACEABILITY: bool(trace_kinds),
    }
    dimensions = tuple(d for d in DIMENSION_ORDER if present[d])
    state = State.of(frozenset(dimensions))
    recommendations, scores = rank_programs(rules, state, _stale_dimensions(stale))
    return Classification(
        state=state,
        dimensions=dimensions,
        missing=tuple(d for d in DIMENSION_ORDER if not present[d]),
        identity_by=identity_by,
        contact_channels=channels,
        trace_kinds=trace_kinds,
        stale_fields=stale,
        recommendations=recommendations,
        rules_version=rules.version,
        scores=scores,
        reclassify_at=_next_change(facts, rules, now),
    )
