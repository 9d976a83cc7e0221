"""The trust policy (data in policies/trust.yaml): which identifier kinds share values, how many may find a person,
which channels' keys are public, who may vouch for what, and when an identifier may attach to a profile."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict

from touchpoints.model import Channel, IdentifierKind
from touchpoints.policies import parse_yaml, policy_text
from touchpoints.privacy.tokenizer import Tokenizer


class Credentials(StrEnum):
    PUBLIC = "public"  # shipped inside browsers and apps: anyone may hold it
    PRIVATE = "private"  # held server-side by the company or its contractors


class TrustPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    shared_values: dict[str, tuple[IdentifierKind, ...]]
    link_limits: dict[IdentifierKind, int]
    default_link_limit: int
    channels: dict[Channel, Credentials]
    vouching: dict[Channel, tuple[IdentifierKind, ...]]
    anonymous_kinds: tuple[IdentifierKind, ...]

    def link_limit(self, kind: IdentifierKind | str) -> int:
        """How many identifiers of this kind may find one person."""
        return self.link_limits.get(IdentifierKind(kind), self.default_link_limit)

    def model_post_init(self, _context: Any) -> None:
        seen = [kind for kinds in self.shared_values.values() for kind in kinds]
        if len(seen) != len(set(seen)):
            raise ValueError("an identifier kind belongs to at most one shared-value group")
        if missing := set(Channel) - self.channels.keys():
            raise ValueError(f"trust policy does not say who holds the keys of {sorted(missing)}")

    def is_public(self, channel: Channel | str) -> bool:
        """Whether anyone may hold this channel's key (so its answers must not reveal who is known or erased)."""
        return self.channels[Channel(channel)] is Credentials.PUBLIC

    def may_vouch(self, channel: Channel | str, kind: IdentifierKind | str) -> bool:
        """Whether this channel may say an identifier of this kind was verified (a public one only with a proof)."""
        return IdentifierKind(kind) in self.vouching.get(Channel(channel), ())

    def is_anonymous(self, profile_links: Mapping[str, int]) -> bool:
        """A profile that holds identifiers of anonymous kinds only (or none): a visitor, a device, a cash buyer."""
        return all(count <= 0 or kind in self.anonymous_kinds for kind, count in profile_links.items())

    def may_write(self, channel: Channel | str, *, verified: bool, profile_links: Mapping[str, int]) -> bool:
        """May a touchpoint from `channel` write identifiers, fields or consents to a profile (see `may_attach`)?"""
        return not self.is_public(channel) or verified or self.is_anonymous(profile_links)

    def may_attach(
        self,
        channel: Channel | str,
        kind: IdentifierKind | str,
        *,
        verified: bool,
        profile_links: Mapping[str, int],
    ) -> bool:
        """May an identifier of `kind`, sent by `channel`, attach to (be linked to, claimed for, merged into) a profile?

        `profile_links` is how many identifiers of each kind the profile holds (empty for a new profile).
        `verified` means the touchpoint carries a vouch that counts (from a channel allowed to vouch for that
        kind, with its proof if the channel is public) for an identifier the profile already holds: it proves
        the sender is that profile's person. A vouch for the new identifier alone proves nothing about the
        profile. Within the kind's link limit, a private channel may attach anything; a public one only to an
        anonymous profile, or when verified.
        """
        if profile_links.get(IdentifierKind(kind), 0) >= self.link_limit(kind):
            return False
        return self.may_write(channel, verified=verified, profile_links=profile_links)

    def same_value_kinds(self, kind: IdentifierKind) -> tuple[IdentifierKind, ...]:
        """Every kind whose values are the same thing as `kind`'s, `kind` first."""
        group = next((kinds for kinds in self.shared_values.values() if kind in kinds), ())
        return (kind, *(k for k in group if k is not kind))

    def value_tokens(self, tokenizer: Tokenizer, kind: IdentifierKind, value: str) -> tuple[str, ...]:
        """The tokens of one normalized value under every kind that shares it, its own kind's first (in the version
        written now); during a secret rotation, in both live versions."""
        return tuple(t for k in self.same_value_kinds(kind) for t in tokenizer.tokens(k, value))


@lru_cache(maxsize=1)
def load_trust_policy() -> TrustPolicy:
    text = policy_text("trust.yaml")
    return TrustPolicy.model_validate(parse_yaml(text))
