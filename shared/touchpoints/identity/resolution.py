"""Which of the profiles a touchpoint names are one person: merge them, or keep them apart as a conflict.

Pure: decided from the owners of the touchpoint's tokens and each owner's link counters (how many
identifiers of each kind it holds), read by ingestion before it writes. The rules are data
(policies/identity.yaml); the decision travels with the touchpoint's one atomic write.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from touchpoints.identity.policy import IdentityPolicy
from touchpoints.identity.subject import SubjectSnapshot
from touchpoints.model import IdentifierKind, PersonalField, Touchpoint
from touchpoints.privacy.tokenizer import token_kind

RULE_SURVIVOR = "survivor:strongest_identifier"
RULE_UNIQUE_CONFLICT = "conflict:unique_kind"
RULE_UNTRUSTED_LINK = "conflict:untrusted_link"

# May this touchpoint join `absorbed` to `survivor`? (Channel trust: issue 17.) True when nothing forbids it.
LinkGuard = Callable[[Touchpoint, SubjectSnapshot, SubjectSnapshot], bool]

# A stored field that is also an identifier: it follows its token.
IDENTIFYING_FIELDS: Mapping[PersonalField, IdentifierKind] = {
    f: IdentifierKind(f.value) for f in PersonalField if f.value in IdentifierKind._value2member_map_
}


class IdentityOutcome(StrEnum):
    SINGLE = "single"  # the touchpoint's identifiers find one profile (or none: a new one)
    MERGED = "merged"  # they found several, now one: the others are being merged into it
    CONFLICT = "conflict"  # they found several that may not be merged, or a second unique identifier


@dataclass(frozen=True, slots=True)
class IdentityDecision:
    outcome: IdentityOutcome
    survivor: str
    absorbed: tuple[str, ...] = ()
    apart: tuple[str, ...] = ()  # profiles named but left apart
    linking_kinds: tuple[str, ...] = ()  # kinds of the touchpoint's tokens other profiles held
    conflicting_kinds: tuple[str, ...] = ()
    foreign_tokens: frozenset[str] = frozenset()  # tokens that will not find the survivor: their values stay off it
    rule: str = RULE_SURVIVOR
    policy_version: str = ""

    @property
    def is_single(self) -> bool:
        return self.outcome is IdentityOutcome.SINGLE


def decide(
    touchpoint: Touchpoint,
    survivor: SubjectSnapshot,
    others: Sequence[SubjectSnapshot],
    tokens: Mapping[IdentifierKind, str],
    owners: Mapping[str, str | None],
    policy: IdentityPolicy,
    guard: LinkGuard | None = None,
) -> IdentityDecision:
    """Merge `others` into `survivor` unless a unique kind would be held twice or the channel may not link them."""
    unowned = [t for t in tokens.values() if owners.get(t) is None]
    holdings: Counter[str] = Counter(survivor.link_counts)
    for other in others:
        holdings.update(other.link_counts)
    holdings.update(token_kind(t) for t in unowned)
    conflicting = policy.conflicting_kinds(holdings)
    if not others and not conflicting:
        return IdentityDecision(IdentityOutcome.SINGLE, survivor.subject_id, policy_version=policy.version)
    other_ids = tuple(o.subject_id for o in others)
    linking = tuple(sorted({token_kind(t) for t in tokens.values() if owners.get(t) in other_ids}))
    # A second value of a unique kind never lands on the survivor, whether another profile holds it or nobody does.
    foreign = frozenset(
        t
        for t in tokens.values()
        if owners.get(t) != survivor.subject_id and (owners.get(t) is not None or token_kind(t) in conflicting)
    )
    if conflicting:
        return IdentityDecision(
            IdentityOutcome.CONFLICT,
            survivor.subject_id,
            apart=other_ids,
            linking_kinds=linking,
            conflicting_kinds=conflicting,
            foreign_tokens=foreign,
            rule=RULE_UNIQUE_CONFLICT,
            policy_version=policy.version,
        )
    if guard is not None and not all(guard(touchpoint, survivor, other) for other in others):
        return IdentityDecision(
            IdentityOutcome.CONFLICT,
            survivor.subject_id,
            apart=other_ids,
            linking_kinds=linking,
            foreign_tokens=foreign,
            rule=RULE_UNTRUSTED_LINK,
            policy_version=policy.version,
        )
    return IdentityDecision(
        IdentityOutcome.MERGED,
        survivor.subject_id,
        absorbed=other_ids,
        linking_kinds=linking,
        policy_version=policy.version,
    )


def withheld_fields(
    personal_data: Mapping[PersonalField, str], tokens: Mapping[IdentifierKind, str], decision: IdentityDecision
) -> dict[PersonalField, str]:
    """The touchpoint's values minus those whose identifier will not find the survivor (another person's email)."""

    def kept(name: PersonalField) -> bool:
        kind = IDENTIFYING_FIELDS.get(name)
        return kind is None or tokens.get(kind) not in decision.foreign_tokens

    return {name: value for name, value in personal_data.items() if kept(name)}
