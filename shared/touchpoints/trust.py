"""The trust policy (data in policies/trust.yaml): which identifier kinds share values, how many may find a person."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from touchpoints.model import IdentifierKind
from touchpoints.privacy.tokenizer import Tokenizer


class TrustPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    shared_values: dict[str, tuple[IdentifierKind, ...]]
    link_limits: dict[IdentifierKind, int]
    default_link_limit: int

    def link_limit(self, kind: IdentifierKind | str) -> int:
        """How many identifiers of this kind may find one person."""
        return self.link_limits.get(IdentifierKind(kind), self.default_link_limit)

    def model_post_init(self, _context: Any) -> None:
        seen = [kind for kinds in self.shared_values.values() for kind in kinds]
        if len(seen) != len(set(seen)):
            raise ValueError("an identifier kind belongs to at most one shared-value group")

    def same_value_kinds(self, kind: IdentifierKind) -> tuple[IdentifierKind, ...]:
        """Every kind whose values are the same thing as `kind`'s, `kind` first."""
        group = next((kinds for kinds in self.shared_values.values() if kind in kinds), ())
        return (kind, *(k for k in group if k is not kind))

    def value_tokens(self, tokenizer: Tokenizer, kind: IdentifierKind, value: str) -> tuple[str, ...]:
        """The tokens of one normalized value under every kind that shares it, its own kind's first."""
        return tuple(tokenizer.token(k, value) for k in self.same_value_kinds(kind))


@lru_cache(maxsize=1)
def load_trust_policy() -> TrustPolicy:
    text = resources.files("touchpoints.policies").joinpath("trust.yaml").read_text()
    return TrustPolicy.model_validate(yaml.safe_load(text))
