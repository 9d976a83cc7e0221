"""The consent policy (data in policies/consent.yaml) and its application to a touchpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from touchpoints.errors import FieldProblem, InvalidTouchpoint
from touchpoints.model import ALL_CHANNELS, Channel, ConsentGrant, IdentifierKind, PersonalField, Touchpoint, TraceKind
from touchpoints.policies import parse_yaml, policy_text


class WhenNotAllowed(StrEnum):
    DROP = "drop"
    MINIMIZE = "minimize"


class _Purpose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    legal_basis: str
    description: str
    implied_by: TraceKind | None = None
    implied_by_withdrawal: bool = False  # a touchpoint that records a "no" carries this purpose
    implied_by_channels: tuple[Channel, ...] = ()  # every touchpoint of these channels carries it

    @property
    def implied(self) -> bool:
        """Carried by the nature of a touchpoint, never asked: a customer cannot grant or withdraw it."""
        return self.implied_by is not None or self.implied_by_withdrawal or bool(self.implied_by_channels)


class _Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    allowed_by: tuple[str, ...]
    when_not_allowed: WhenNotAllowed
    retention_days: int | None = Field(default=None, gt=0)


class ConsentPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    purposes: dict[str, _Purpose]
    categories: dict[str, _Category]
    linking: dict[IdentifierKind, tuple[str, ...]]
    require_consent_block_with_personal_data: bool

    def model_post_init(self, _context: Any) -> None:
        needed = {"identity", "contact", "trace_transactional", "trace_visit"}
        if missing := needed - self.categories.keys():
            raise ValueError(f"consent policy lacks categories {sorted(missing)}")
        for name, category in self.categories.items():
            if unknown := set(category.allowed_by) - self.purposes.keys():
                raise ValueError(f"category {name} names unknown purposes {sorted(unknown)}")
        if missing_kinds := set(IdentifierKind) - self.linking.keys():
            raise ValueError(f"consent policy gives no linking basis for {sorted(missing_kinds)}")
        for kind, purposes in self.linking.items():
            if unknown := set(purposes) - self.purposes.keys():
                raise ValueError(f"linking of {kind} names unknown purposes {sorted(unknown)}")

    def retention_days(self, trace_kind: TraceKind) -> int:
        days = self.categories[f"trace_{trace_kind.value}"].retention_days
        if days is None:
            raise ValueError(f"consent policy gives no retention for {trace_kind} traces")
        return days


@lru_cache(maxsize=1)
def load_policy() -> ConsentPolicy:
    text = policy_text("consent.yaml")
    return ConsentPolicy.model_validate(parse_yaml(text))


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """The current answer for one purpose and scope, as kept on the profile."""

    granted: bool
    collected_at: datetime
    source: str
    policy_version: str
    # Stored with its time as a number too (items.profile CONSENT_AT_US), which a write's condition can order by.
    # Answers stored before that was written cannot be ordered in a condition: answering them again is a change.
    orderable: bool = True


class TraceMode(StrEnum):
    FULL = "full"
    MINIMIZED = "minimized"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class StoragePlan:
    """What of one touchpoint may be kept, decided by the policy and the customer's consent."""

    personal_data: Mapping[PersonalField, str]
    dropped_fields: tuple[PersonalField, ...]
    trace_mode: TraceMode
    consent_changes: tuple[ConsentGrant, ...]
    retention_days: int | None
    # The identifier kinds whose tokens may be kept to link this person (policy `linking`)
    linkable: frozenset[IdentifierKind] = frozenset()
    # Later answers equal to the stored ones (same yes or no, same policy version): kept as the latest evidence,
    # but nothing changed, so they are neither a consent change (no new consent version) nor a history item
    consent_reaffirmed: tuple[ConsentGrant, ...] = ()


def check_declared(touchpoint: Touchpoint, policy: ConsentPolicy) -> None:
    """Refuse a touchpoint whose consent cannot be applied (fail closed)."""
    problems = [
        FieldProblem(("consent", i, "purpose"), "unknown_purpose", "purpose is not in the consent policy")
        for i, grant in enumerate(touchpoint.consents)
        if grant.purpose not in policy.purposes or policy.purposes[grant.purpose].implied
    ]
    if touchpoint.personal_data and not touchpoint.consent_declared and policy.require_consent_block_with_personal_data:
        problems.append(
            FieldProblem(
                ("consent",), "consent_required", "personal data was sent without the customer's consent block"
            )
        )
    if problems:
        raise InvalidTouchpoint("the touchpoint's consent cannot be applied", problems)


def is_allowed(purpose: str, channel: str, consents: Mapping[str, ConsentRecord]) -> bool:
    """A channel-specific answer overrides the answer for all channels."""
    record = consents.get(f"{purpose}:{channel}") or consents.get(f"{purpose}:{ALL_CHANNELS}")
    return record is not None and record.granted


def merge(
    consents: Mapping[str, ConsentRecord], grants: tuple[ConsentGrant, ...], source: str, policy: ConsentPolicy
) -> tuple[dict[str, ConsentRecord], tuple[ConsentGrant, ...], tuple[ConsentGrant, ...]]:
    """Apply the touchpoint's grants over the stored ones; an older answer never overrides a newer one.
    Returns the answers now, the changes and the re-affirmations (a later answer equal to the stored one)."""
    merged = dict(consents)
    changes: dict[str, ConsentGrant] = {}
    reaffirmed: dict[str, ConsentGrant] = {}
    for grant in sorted(grants, key=lambda g: g.collected_at):
        current = merged.get(grant.key)
        if current is not None and current.collected_at >= grant.collected_at:
            continue
        merged[grant.key] = ConsentRecord(grant.granted, grant.collected_at, source, policy.version)
        stored = consents.get(grant.key)
        same = (
            stored is not None
            and stored.orderable
            and stored.granted == grant.granted
            and stored.policy_version == policy.version
        )
        if same and grant.key not in changes:
            reaffirmed[grant.key] = grant
        else:
            changes[grant.key] = grant
            reaffirmed.pop(grant.key, None)
    return merged, tuple(changes.values()), tuple(reaffirmed.values())


def plan_storage(touchpoint: Touchpoint, consents: Mapping[str, ConsentRecord], policy: ConsentPolicy) -> StoragePlan:
    """Decide what to keep: consent given on this touchpoint counts for this touchpoint."""
    merged, changes, reaffirmed = merge(consents, touchpoint.consents, touchpoint.channel.value, policy)
    trace_kind = touchpoint.trace.kind if touchpoint.trace else None
    implied = {
        name
        for name, purpose in policy.purposes.items()
        if (trace_kind and purpose.implied_by == trace_kind)
        or (purpose.implied_by_withdrawal and any(not g.granted for g in touchpoint.consents))
        or touchpoint.channel in purpose.implied_by_channels
    }

    def any_allowed(purposes: tuple[str, ...]) -> bool:
        return any(p in implied or is_allowed(p, touchpoint.channel.value, merged) for p in purposes)

    def category_allowed(name: str) -> bool:
        return any_allowed(policy.categories[name].allowed_by)

    allowed = {category: category_allowed(category) for category in ("identity", "contact")}
    kept = {f: v for f, v in touchpoint.personal_data.items() if allowed[f.category]}
    dropped = tuple(f for f in touchpoint.personal_data if f not in kept)

    trace_mode, retention = TraceMode.NONE, None
    if touchpoint.trace is not None:
        trace_category = f"trace_{touchpoint.trace.kind.value}"
        retention = policy.retention_days(touchpoint.trace.kind)
        if category_allowed(trace_category):
            trace_mode = TraceMode.FULL
        elif policy.categories[trace_category].when_not_allowed is WhenNotAllowed.MINIMIZE:
            trace_mode = TraceMode.MINIMIZED
    linkable = frozenset(kind for kind in touchpoint.identifiers if any_allowed(policy.linking[kind]))
    return StoragePlan(kept, dropped, trace_mode, changes, retention, linkable, reaffirmed)
