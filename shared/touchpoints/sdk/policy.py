"""The SDK mapping policy (data in policies/sdk.yaml): which Segment traits, events and consent categories mean what."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from touchpoints.channels.common import CustomerData
from touchpoints.model import Channel, IdentifierKind, TraceKind
from touchpoints.policies import parse_yaml, policy_text

# The customer fields a trait may fill: the fields of the native touchpoint's customer block.
CUSTOMER_FIELDS = frozenset(CustomerData.model_fields)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Frozen):
    max_message_bytes: int = Field(gt=0)
    max_batch_bytes: int = Field(gt=0)
    max_message_id_length: int = Field(gt=0, le=128)
    max_clock_correction_seconds: int = Field(ge=0)


class TraceRule(_Frozen):
    kind: TraceKind
    action: str = Field(pattern=r"^[a-z_]{1,32}$")


class ChannelRule(_Frozen):
    user_id: IdentifierKind
    custom_traits: dict[str, str] = Field(default_factory=dict)
    # Browser routes: pages post with the write key in the body, checked by the function; CORS from WebAllowedOrigins.
    browser: bool = False


class SdkPolicy(_Frozen):
    version: str
    limits: Limits
    traits: dict[str, str]
    consent_categories: dict[str, str]
    page: TraceRule
    screen: TraceRule
    events: dict[str, TraceRule]
    other_events: TraceRule
    channels: dict[Channel, ChannelRule]

    def model_post_init(self, _context: Any) -> None:
        targets = set(self.traits.values()) | {f for c in self.channels.values() for f in c.custom_traits.values()}
        if unknown := targets - CUSTOMER_FIELDS:
            raise ValueError(f"sdk policy maps traits to unknown customer fields {sorted(unknown)}")
        if missing := set(Channel) - self.channels.keys():
            raise ValueError(f"sdk policy lacks channels {sorted(missing)}")

    def trait_fields(self, channel: Channel) -> dict[str, str]:
        """Trait name -> customer field, the channel's custom traits over the reserved ones."""
        return {**self.traits, **self.channels[channel].custom_traits}

    def event_rule(self, event: str) -> TraceRule:
        return self.events.get(event, self.other_events)


@lru_cache(maxsize=1)
def load_sdk_policy() -> SdkPolicy:
    text = policy_text("sdk.yaml")
    return SdkPolicy.model_validate(parse_yaml(text))
