"""The canonical touchpoint: what every channel's payload is parsed into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    CONTACT_CENTER = "contact-center"
    STORE = "store"


class IdentifierKind(StrEnum):
    """Values that find a person. Each is stored only as a keyed token."""

    RFC = "rfc"
    CURP = "curp"
    EMAIL = "email"
    PHONE = "phone"
    WHATSAPP = "whatsapp"
    LOYALTY_ID = "loyalty_id"
    APP_USER_ID = "app_user_id"
    MESSENGER_ID = "messenger_id"
    SOCIAL_HANDLE = "social_handle"
    PUSH_TOKEN = "push_token"
    TICKET = "ticket"
    ANONYMOUS_ID = "anonymous_id"


# When one touchpoint's identifiers point at different profiles, the strongest wins.
RESOLUTION_PRIORITY: tuple[IdentifierKind, ...] = tuple(IdentifierKind)


class DataCategory(StrEnum):
    IDENTITY = "identity"
    CONTACT = "contact"


class PersonalField(StrEnum):
    """Personal values kept on a profile. Each is stored only encrypted."""

    GIVEN_NAME = "given_name"
    FAMILY_NAME = "family_name"
    BIRTH_DATE = "birth_date"
    GENDER = "gender"
    RFC = "rfc"
    CURP = "curp"
    EMAIL = "email"
    PHONE = "phone"
    POSTAL_ADDRESS = "postal_address"
    PUSH_TOKEN = "push_token"
    WHATSAPP = "whatsapp"
    MESSENGER_ID = "messenger_id"
    SOCIAL_HANDLE = "social_handle"

    @property
    def category(self) -> DataCategory:
        return DataCategory.IDENTITY if self in _IDENTITY_FIELDS else DataCategory.CONTACT


_IDENTITY_FIELDS = frozenset(
    {
        PersonalField.GIVEN_NAME,
        PersonalField.FAMILY_NAME,
        PersonalField.BIRTH_DATE,
        PersonalField.GENDER,
        PersonalField.RFC,
        PersonalField.CURP,
    }
)


class TraceKind(StrEnum):
    TRANSACTIONAL = "transactional"
    VISIT = "visit"


ALL_CHANNELS: Final = "all"


@dataclass(frozen=True, slots=True)
class Trace:
    """What the customer did. `details` never holds identifiers; it is encrypted anyway."""

    kind: TraceKind
    action: str
    details: Mapping[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    """A customer's yes or no to one purpose, on one channel or on all of them."""

    purpose: str
    scope: str  # a Channel value, or ALL_CHANNELS
    granted: bool
    collected_at: datetime

    @property
    def key(self) -> str:
        return f"{self.purpose}:{self.scope}"


@dataclass(frozen=True, slots=True)
class Touchpoint:
    channel: Channel
    event_id: str
    occurred_at: datetime
    identifiers: Mapping[IdentifierKind, str]
    personal_data: Mapping[PersonalField, str] = field(default_factory=dict)
    trace: Trace | None = None
    consents: tuple[ConsentGrant, ...] = ()
    consent_declared: bool = False
    # Identifiers the channel vouches were verified (login, confirmation): kind -> the back end's proof, if any.
    verified: Mapping[IdentifierKind, str | None] = field(default_factory=dict)
    # The channel asserts its identifiers are one person (an authenticated login naming the anonymous id it
    # replaces, like Segment's alias): an explicit link, not an inference from shared identifiers.
    alias: bool = False
    # The migration program (policies/classification.yaml) and campaign it belongs to: a state move it causes is
    # credited to them (issue 25)
    program: str | None = None
    campaign_id: str | None = None
