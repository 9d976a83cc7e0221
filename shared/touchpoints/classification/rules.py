"""The classification rules (data in policies/classification.yaml), loaded and checked once."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from touchpoints.model import ALL_CHANNELS, Channel, DataCategory, PersonalField, TraceKind
from touchpoints.policies import parse_yaml, policy_text


class Dimension(StrEnum):
    IDENTITY = "I"
    CONTACTABILITY = "C"
    TRACEABILITY = "T"


class State(StrEnum):
    """A region of the I/C/T Venn diagram (DOMAIN.md). A is where the business wants everyone."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    U = "U"

    @classmethod
    def of(cls, dimensions: frozenset[Dimension]) -> State:
        return _STATE_OF[dimensions]

    @property
    def dimensions(self) -> frozenset[Dimension]:
        return _DIMENSIONS_OF[self]


_I, _C, _T = Dimension.IDENTITY, Dimension.CONTACTABILITY, Dimension.TRACEABILITY
_STATE_OF: dict[frozenset[Dimension], State] = {
    frozenset({_I, _C, _T}): State.A,
    frozenset({_I, _C}): State.B,
    frozenset({_I, _T}): State.C,
    frozenset({_C, _T}): State.D,
    frozenset({_I}): State.E,
    frozenset({_C}): State.F,
    frozenset({_T}): State.G,
    frozenset(): State.U,
}
_DIMENSIONS_OF = {state: dims for dims, state in _STATE_OF.items()}
DIMENSION_ORDER = (_I, _C, _T)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdentityRule(_Rule):
    any_of: tuple[frozenset[PersonalField], ...] = Field(min_length=1)


class ContactabilityRule(_Rule):
    purpose: str
    channels: dict[PersonalField, str]


class TraceKindRule(_Rule):
    counts_for_days: int = Field(gt=0)


class TraceabilityRule(_Rule):
    kinds: dict[TraceKind, TraceKindRule] = Field(min_length=1)


class FreshnessRule(_Rule):
    identity_days: int = Field(gt=0)
    contact_days: int = Field(gt=0)
    stale_contact_counts: bool = True

    def days(self, category: DataCategory) -> int:
        return self.identity_days if category is DataCategory.IDENTITY else self.contact_days


class Program(_Rule):
    description: str
    needs: frozenset[Dimension] = frozenset()
    fills: frozenset[Dimension] = frozenset()
    refreshes: frozenset[Dimension] = frozenset()
    sustains: frozenset[State] = frozenset()


class Ranking(_Rule):
    per_missing_dimension: int = Field(ge=0)
    per_stale_dimension: int = Field(ge=0)
    sustains_state: int = Field(ge=0)
    max_recommendations: int = Field(gt=0)


class ClassificationRules(_Rule):
    """Which attributes make each dimension present, freshness, and the migration programs."""

    version: str = Field(min_length=1)
    identity: IdentityRule
    contactability: ContactabilityRule
    traceability: TraceabilityRule
    freshness: FreshnessRule
    programs: dict[str, Program] = Field(min_length=1)
    ranking: Ranking

    def model_post_init(self, _context: Any) -> None:
        for fields in self.identity.any_of:
            if wrong := sorted(f.value for f in fields if f.category is not DataCategory.IDENTITY):
                raise ValueError(f"identity rule names non-identity fields {wrong}")
        scopes = {c.value for c in Channel} | {ALL_CHANNELS}
        for field, scope in self.contactability.channels.items():
            if field.category is not DataCategory.CONTACT:
                raise ValueError(f"contactability rule names non-contact field {field.value}")
            if scope not in scopes:
                raise ValueError(f"contact field {field.value} maps to unknown channel {scope}")


def parse_rules(text: str) -> ClassificationRules:
    return ClassificationRules.model_validate(parse_yaml(text))


@lru_cache(maxsize=1)
def load_rules() -> ClassificationRules:
    """The rules shipped in the layer (policies/classification.yaml); invalid rules fail the cold start."""
    return parse_rules(policy_text("classification.yaml"))
