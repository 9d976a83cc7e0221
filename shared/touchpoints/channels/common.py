"""Building blocks shared by the channels' payload models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from touchpoints import normalize
from touchpoints.model import (
    ALL_CHANNELS,
    Channel,
    ConsentGrant,
    IdentifierKind,
    PersonalField,
    Touchpoint,
    Trace,
)

MAX_BATCH_SIZE = 25
_CLOCK_SKEW = timedelta(minutes=5)


def _iso_text(value: Any) -> Any:
    """Times and dates travel as ISO 8601 text; a bare number is refused, not read as epoch seconds."""
    if not isinstance(value, str):
        raise PydanticCustomError("iso_text_required", "give an ISO 8601 string")
    return value


def _not_in_future(value: datetime) -> datetime:
    if value > datetime.now(UTC) + _CLOCK_SKEW:
        raise PydanticCustomError("occurred_in_future", "occurred_at is in the future")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
PastTimestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_not_in_future)]
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:\-]{1,128}$", strict=True)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-]{1,64}$", strict=True)]
Email = Annotated[str, StringConstraints(max_length=254, strict=True), AfterValidator(normalize.email)]
Phone = Annotated[str, StringConstraints(max_length=32, strict=True), AfterValidator(normalize.phone)]
Rfc = Annotated[str, StringConstraints(max_length=16, strict=True), AfterValidator(normalize.rfc)]
Curp = Annotated[str, StringConstraints(max_length=20, strict=True), AfterValidator(normalize.curp)]
OpaqueId = Annotated[str, StringConstraints(strict=True), AfterValidator(normalize.opaque_id)]
SocialHandle = Annotated[str, StringConstraints(max_length=65, strict=True), AfterValidator(normalize.social_handle)]
PersonName = Annotated[str, StringConstraints(max_length=200, strict=True), AfterValidator(normalize.person_name)]
Text = Annotated[str, StringConstraints(max_length=200, strict=True)]
Amount = Annotated[float, Field(ge=0, le=10_000_000, strict=True)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$", strict=True)]
PagePath = Annotated[str, StringConstraints(pattern=r"^/[^?#\s]{0,511}$", strict=True)]


class Strict(BaseModel):
    """Unknown fields are refused: a misspelt field would otherwise be silently lost."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # No values in repr or str: they are personal data, and Powertools' event handler formats the parsed
        # body into a debug message on every request, whether or not debug logging is on.
        return iter(())


class PostalAddress(Strict):
    street: Text
    exterior_number: Text | None = None
    interior_number: Text | None = None
    neighborhood: Text | None = None
    city: Text
    state: Text
    postal_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 \-]{3,10}$", strict=True)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$", strict=True)] = "MX"

    def canonical(self) -> str:
        return json.dumps(self.model_dump(exclude_none=True), sort_keys=True, ensure_ascii=False)


class CustomerData(Strict):
    """What a customer tells about themselves at a touchpoint. Everything is optional."""

    given_name: PersonName | None = None
    family_name: PersonName | None = None
    birth_date: IsoDate | None = None
    gender: Literal["female", "male", "non_binary", "undisclosed"] | None = None
    email: Email | None = None
    phone: Phone | None = None
    rfc: Rfc | None = None
    curp: Curp | None = None
    postal_address: PostalAddress | None = None
    social_handle: SocialHandle | None = None
    loyalty_id: OpaqueId | None = None

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth_date(cls, value: date | None) -> date | None:
        if value is not None:
            normalize.birth_date(value, datetime.now(UTC).date())
        return value

    def personal_data(self) -> dict[PersonalField, str]:
        values: dict[PersonalField, str | None] = {
            PersonalField.GIVEN_NAME: self.given_name,
            PersonalField.FAMILY_NAME: self.family_name,
            PersonalField.BIRTH_DATE: self.birth_date.isoformat() if self.birth_date else None,
            PersonalField.GENDER: self.gender,
            PersonalField.EMAIL: self.email,
            PersonalField.PHONE: self.phone,
            PersonalField.RFC: self.rfc,
            PersonalField.CURP: self.curp,
            PersonalField.POSTAL_ADDRESS: self.postal_address.canonical() if self.postal_address else None,
            PersonalField.SOCIAL_HANDLE: self.social_handle,
        }
        return {k: v for k, v in values.items() if v is not None}

    def identifiers(self) -> dict[IdentifierKind, str]:
        values: dict[IdentifierKind, str | None] = {
            IdentifierKind.RFC: self.rfc,
            IdentifierKind.CURP: self.curp,
            IdentifierKind.EMAIL: self.email,
            IdentifierKind.PHONE: self.phone,
            IdentifierKind.LOYALTY_ID: self.loyalty_id,
            IdentifierKind.SOCIAL_HANDLE: self.social_handle,
        }
        return {k: v for k, v in values.items() if v is not None}


class ConsentIn(Strict):
    purpose: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$", strict=True)]
    channel: Channel | Literal["all"] = ALL_CHANNELS
    granted: StrictBool
    collected_at: PastTimestamp | None = None


class VerifiedIdentifier(Strict):
    """A channel's word that one of the touchpoint's identifiers was verified (a login, a confirmation).

    On a public channel (web, app) it counts only with `proof`, which the company's own back end signs with
    the channel's vouching key; see policies/trust.yaml.
    """

    kind: IdentifierKind
    proof: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{43}$", strict=True)] | None = None


class Order(Strict):
    order_id: Code
    total: Amount
    currency: Currency = "MXN"
    items: Annotated[int, Field(ge=0, le=10_000, strict=True)] | None = None
    home_delivery: StrictBool = False


class ChannelTouchpoint(Strict):
    """Fields every channel's touchpoint has. Subclasses say what their channel sends."""

    event_id: EventId
    occurred_at: PastTimestamp
    consent: Annotated[list[ConsentIn], Field(max_length=20)] | None = None
    verified: Annotated[list[VerifiedIdentifier], Field(max_length=len(IdentifierKind))] | None = None

    def to_touchpoint(self, channel: Channel) -> Touchpoint:
        raise NotImplementedError

    def _touchpoint(
        self,
        channel: Channel,
        identifiers: dict[IdentifierKind, str],
        personal_data: dict[PersonalField, str] | None = None,
        trace: Trace | None = None,
        implied_consents: tuple[ConsentGrant, ...] = (),
    ) -> Touchpoint:
        grants = tuple(
            ConsentGrant(c.purpose, c.channel, c.granted, c.collected_at or self.occurred_at)
            for c in self.consent or ()
        )
        return Touchpoint(
            channel=channel,
            event_id=self.event_id,
            occurred_at=self.occurred_at,
            identifiers=identifiers,
            personal_data=personal_data or {},
            trace=trace,
            consents=grants + implied_consents,
            consent_declared=self.consent is not None,
            verified={v.kind: v.proof for v in self.verified or ()},
        )

    def _marketing(self, channel: Channel, granted: bool) -> tuple[ConsentGrant, ...]:
        return (ConsentGrant("marketing", channel.value, granted, self.occurred_at),)


T = TypeVar("T", bound=ChannelTouchpoint)


class TouchpointBatch(Strict, Generic[T]):
    """One touchpoint, or up to MAX_BATCH_SIZE of them under ``touchpoints``."""

    touchpoints: Annotated[list[T], Field(min_length=1, max_length=MAX_BATCH_SIZE)]

    @model_validator(mode="before")
    @classmethod
    def _single_touchpoint(cls, data: Any) -> Any:
        if isinstance(data, dict) and "touchpoints" not in data:
            return {"touchpoints": [data]}
        return data


class SubjectIdentifiers(Strict):
    """How a request names the person it is about: any identifier the system tokenizes."""

    email: Email | None = None
    phone: Phone | None = None
    rfc: Rfc | None = None
    curp: Curp | None = None
    loyalty_id: OpaqueId | None = None
    app_user_id: OpaqueId | None = None
    whatsapp: Phone | None = None
    messenger_id: OpaqueId | None = None
    social_handle: SocialHandle | None = None
    push_token: OpaqueId | None = None
    anonymous_id: OpaqueId | None = None

    def identifiers(self) -> dict[IdentifierKind, str]:
        values = {kind: getattr(self, kind.value, None) for kind in IdentifierKind}
        return {kind: value for kind, value in values.items() if value is not None}

    @model_validator(mode="after")
    def _at_least_one(self) -> SubjectIdentifiers:
        if not self.model_dump(exclude_none=True):
            raise PydanticCustomError("no_identifier", "name the person by at least one identifier")
        return self


class ConsentSubmission(ChannelTouchpoint):
    """A consent change recorded outside a touchpoint (preference centre, call, counter)."""

    subject: SubjectIdentifiers
    consent: Annotated[list[ConsentIn], Field(min_length=1, max_length=20)]  # type: ignore[assignment]

    def to_touchpoint(self, channel: Channel) -> Touchpoint:
        return self._touchpoint(channel, self.subject.identifiers())
