"""The contact policy (data in policies/contact.yaml), loaded and checked once."""

from __future__ import annotations

from datetime import time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from touchpoints.classification.rules import ClassificationRules, load_rules
from touchpoints.consent import load_policy
from touchpoints.model import Channel
from touchpoints.policies import parse_yaml, policy_text

# The channels that send and so serve the contact routes (template.yaml gives them those routes). The policy
# must list exactly these; a constant, so a channel function's cold start does not parse the policy files.
SENDING_CHANNELS = frozenset({Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.CONTACT_CENTER})
MAX_AUDIENCE = 1000  # recipients of one contact-decisions request


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max: int = Field(ge=0)
    days: int = Field(gt=0)

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.days)


class PurposeRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    consent: str | None
    exempt: bool = False
    limits: tuple[Limit, ...] = ()
    channel_limits: dict[Channel, tuple[Limit, ...]] = Field(default_factory=dict)


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: time
    end: time


class ContactPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = Field(min_length=1)
    default_time_zone: str
    quiet_hours: QuietHours
    reservation_minutes: int = Field(gt=0, le=24 * 60)
    history_days: int = Field(gt=0, le=366)
    contact_retention_days: int = Field(gt=0)
    channels: dict[Channel, tuple[str, ...]]
    purposes: dict[str, PurposeRule] = Field(min_length=1)

    def model_post_init(self, _context: Any) -> None:
        try:
            ZoneInfo(self.default_time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("default_time_zone is not an IANA time zone") from None
        consent_purposes = load_policy().purposes
        for name, rule in self.purposes.items():
            if rule.consent is not None and rule.consent not in consent_purposes:
                raise ValueError(f"purpose {name} needs consent purpose {rule.consent}, unknown to consent.yaml")
            longest = max((limit.days for limit in self.all_limits(name)), default=0)
            if longest > self.history_days:
                raise ValueError(f"purpose {name} has a limit longer than history_days")
            if unknown := set(rule.channel_limits) - set(self.channels):
                raise ValueError(f"purpose {name} limits channels that do not send: {sorted(unknown)}")
        if set(self.channels) != SENDING_CHANNELS:
            raise ValueError("the policy's channels must be the sending channels: web and app are public clients")

    def all_limits(self, purpose: str) -> tuple[Limit, ...]:
        rule = self.purposes[purpose]
        return (*rule.limits, *(limit for limits in rule.channel_limits.values() for limit in limits))

    @property
    def reservation_time(self) -> timedelta:
        return timedelta(minutes=self.reservation_minutes)

    @property
    def history(self) -> timedelta:
        return timedelta(days=self.history_days)


def contact_fields(rules: ClassificationRules) -> dict[str, tuple[str, ...]]:
    """Channel -> the contact fields that reach a person on it: the classifier's contactability map, inverted."""
    fields: dict[str, list[str]] = {}
    for field, channel in rules.contactability.channels.items():
        fields.setdefault(channel, []).append(field.value)
    return {channel: tuple(sorted(names)) for channel, names in fields.items()}


def parse_contact_policy(text: str) -> ContactPolicy:
    policy = ContactPolicy.model_validate(parse_yaml(text))
    rules = load_rules()
    reachable = contact_fields(rules)
    if missing := [c.value for c in policy.channels if c.value not in reachable]:
        raise ValueError(f"no contact field reaches a person on {missing} (classification.yaml contactability)")
    # "Contactable" in the classifier must mean what a decision asks: the consent of a purpose the policy caps.
    if rules.contactability.purpose not in {r.consent for r in policy.purposes.values() if not r.exempt}:
        raise ValueError("classification.yaml contactability's purpose is no consent a capped purpose asks for")
    return policy


@lru_cache(maxsize=1)
def load_contact_policy() -> ContactPolicy:
    """The policy shipped in the layer; an invalid one fails the cold start."""
    return parse_contact_policy(policy_text("contact.yaml"))
