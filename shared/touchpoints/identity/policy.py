"""The identity policy (data in policies/identity.yaml): unique, shareable and weak identifier kinds."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from touchpoints.model import IdentifierKind
from touchpoints.policies import parse_yaml, policy_text


class MergeRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    survivor_rule: Literal["strongest_identifier"]
    page_size: int = Field(ge=1, le=30)


class IdentityPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    unique: dict[IdentifierKind, int]
    shareable: dict[IdentifierKind, int]
    weak: tuple[IdentifierKind, ...]
    merge: MergeRules

    def model_post_init(self, _context: Any) -> None:
        listed = [*self.unique, *self.shareable, *self.weak]
        if len(listed) != len(set(listed)) or set(listed) != set(IdentifierKind):
            raise ValueError("every identifier kind is exactly one of unique, shareable or weak")

    def is_unique(self, kind: IdentifierKind | str) -> bool:
        return IdentifierKind(kind) in self.unique

    def is_weak(self, kind: IdentifierKind | str) -> bool:
        return IdentifierKind(kind) in self.weak

    def per_profile(self, kind: IdentifierKind | str) -> int | None:
        """How many identifiers of the kind one profile may hold, or None when trust.yaml's cap alone applies."""
        kind = IdentifierKind(kind)
        return self.unique.get(kind, self.shareable.get(kind))

    def conflicting_kinds(self, holdings: Mapping[str, int]) -> tuple[str, ...]:
        """The unique kinds of which `holdings` (kind -> identifiers, summed over profiles) exceed the limit."""
        return tuple(
            sorted(k for k, n in holdings.items() if k and self.is_unique(k) and n > self.unique[IdentifierKind(k)])
        )


@lru_cache(maxsize=1)
def load_identity_policy() -> IdentityPolicy:
    text = policy_text("identity.yaml")
    return IdentityPolicy.model_validate(parse_yaml(text))
