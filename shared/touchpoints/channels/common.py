"""Building blocks shared by the channels' payload models."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

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


def _whole_number(value: Any) -> Any:
    """JSON Schema's integer includes 2.0 (and JavaScript cannot tell them apart): a whole float is that integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class Documented:
    """What the OpenAPI document says of a value beyond its type, where a validator makes the check (a check digit,
    a numbering plan, a moving time window): the check and its description sit on one type."""

    keywords: tuple[tuple[str, Any], ...]  # hashable, as type annotations must be

    @classmethod
    def of(cls, schema: Mapping[str, Any]) -> Documented:
        """`schema`'s values, or callables that make them from a policy when the document is written."""
        return cls(tuple(schema.items()))

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(core_schema), **{key: v() if callable(v) else v for key, v in self.keywords}}


# `x-not-after` / `x-not-before`: a bound relative to the time of the request, which JSON Schema cannot say.
_PAST = Documented.of(
    {"x-not-after": "now+PT5M", "description": "ISO 8601 with a UTC offset; not in the future (5 minutes of skew)"}
)
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
PastTimestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_not_in_future), _PAST]
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
BirthDate = Annotated[
    date,
    BeforeValidator(_iso_text),
    Documented.of(
        {
            "x-not-after": "today",
            "x-not-before": "today-P130Y",
            "description": "YYYY-MM-DD; not in the future, and not before 1 January 130 years ago",
        }
    ),
]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:\-]{1,128}$", strict=True)]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._\-]{1,64}$", strict=True)]
Email = Annotated[
    str,
    StringConstraints(max_length=254, strict=True),
    AfterValidator(normalize.email),
    Documented.of(
        {
            "format": "email",
            "pattern": normalize.EMAIL_PATTERN,
            "description": "An address mail can reach: not on a special-use domain (.test, .invalid, .local...)",
        }
    ),
]
Phone = Annotated[
    str,
    StringConstraints(max_length=32, strict=True),
    AfterValidator(normalize.phone),
    Documented.of(
        {
            "format": "phone",
            "description": "A number valid in its country's numbering plan (libphonenumber): E.164 (+525512345678), "
            "or a Mexican number without the country code (55 1234 5678)",
        }
    ),
]
Rfc = Annotated[
    str,
    StringConstraints(max_length=16, strict=True),
    AfterValidator(normalize.rfc),
    Documented.of({"format": "mx-rfc", "description": "Mexico's RFC (12 or 13 characters) with its check digit"}),
]
Curp = Annotated[
    str,
    StringConstraints(max_length=20, strict=True),
    AfterValidator(normalize.curp),
    Documented.of({"format": "mx-curp", "description": "Mexico's CURP (18 characters) with its check digit"}),
]
OpaqueId = Annotated[
    str,
    StringConstraints(strict=True),
    AfterValidator(normalize.opaque_id),
    Documented.of({"pattern": normalize.OPAQUE_ID_PATTERN}),
]
SocialHandle = Annotated[
    str,
    StringConstraints(max_length=65, strict=True),
    AfterValidator(normalize.social_handle),
    Documented.of({"pattern": normalize.SOCIAL_HANDLE_PATTERN}),
]
PersonName = Annotated[
    str,
    StringConstraints(max_length=200, strict=True),
    AfterValidator(normalize.person_name),
    Documented.of(
        {
            "maxLength": 100,
            "pattern": r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
            "description": "Printable text, not blank; runs of spaces count as one",
        }
    ),
]
Text = Annotated[str, StringConstraints(max_length=200, strict=True)]
Amount = Annotated[float, Field(ge=0, le=10_000_000, strict=True)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$", strict=True)]
PagePath = Annotated[str, StringConstraints(pattern=r"^/[^?#\s]{0,511}$", strict=True)]


def _programs() -> list[str]:
    from touchpoints.classification.rules import load_rules

    return list(load_rules().programs)


def _known_program(value: str) -> str:
    if value not in _programs():
        raise PydanticCustomError("unknown_program", "not a program of policies/classification.yaml")
    return value


# A migration program of policies/classification.yaml, and a campaign of it: a state move the touchpoint causes is
# credited to them. A campaign id is a code (no `#`, `|` or `>`: the counters' keys separate with those).
ProgramName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z_]{1,64}$", strict=True),
    AfterValidator(_known_program),
    Documented.of({"enum": _programs, "description": "A program of policies/classification.yaml"}),
]
CampaignId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$", strict=True),
    Documented.of({"description": "The campaign of the program this touchpoint answers (e.g. bf-2026)"}),
]


def _declarable_purposes() -> list[str]:
    from touchpoints.consent import load_policy

    return sorted(name for name, rule in load_policy().purposes.items() if not rule.implied)


_NOT_NULL: dict[str, Any] = {"not": {"type": "null"}}


def when(field: str, value: str | None, then: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema rule: when `field` is `value` (or, with None, is given and not null), `then` holds."""
    condition = {"const": value} if value is not None else _NOT_NULL
    return {"if": {"required": [field], "properties": {field: condition}}, "then": then}


def present(*fields: str) -> dict[str, Any]:
    """A JSON Schema rule: each of `fields` is given, and not null."""
    return {"required": list(fields), "properties": {field: _NOT_NULL for field in fields}}


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

    # The fields identifiers() and personal_data() read, as the OpenAPI document names them.
    IDENTIFIER_FIELDS: ClassVar[tuple[str, ...]] = ("rfc", "curp", "email", "phone", "loyalty_id", "social_handle")
    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = (
        "given_name",
        "family_name",
        "birth_date",
        "gender",
        "email",
        "phone",
        "rfc",
        "curp",
        "postal_address",
        "social_handle",
    )

    given_name: PersonName | None = None
    family_name: PersonName | None = None
    birth_date: BirthDate | None = None
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
    purpose: Annotated[
        str,
        StringConstraints(pattern=r"^[a-z_]{1,32}$", strict=True),
        Documented.of(
            {"enum": _declarable_purposes, "description": "A purpose of policies/consent.yaml that needs consent"}
        ),
    ]
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
    items: Annotated[int, Field(ge=0, le=10_000, strict=True), BeforeValidator(_whole_number)] | None = None
    home_delivery: StrictBool = False


def _document_rules(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The OpenAPI document's rules of a channel's touchpoint beyond its fields' types, from what the channel's
    model declares (see ChannelTouchpoint) and the policies: a consent block beside personal data (consent.yaml),
    what the channel may vouch for and how (trust.yaml)."""
    from touchpoints.consent import load_policy

    declared = cast("type[ChannelTouchpoint]", model)
    rules: list[dict[str, Any]] = list(declared.document_rules)
    where = {kind: [present(field) for field in fields] for kind, fields in declared.identifier_fields.items()}
    personal = [present(field) for field in declared.personal_fields]
    if declared.customer_data is not None:
        field, data = declared.customer_data
        for kind in data.IDENTIFIER_FIELDS:
            where.setdefault(kind, []).append(_within(field, present(kind)))
        personal.append(_within(field, names_one_of(*data.PERSONAL_FIELDS)))
    if where and not declared.always_identified:
        rules.append({"anyOf": [rule for rules_of_kind in where.values() for rule in rules_of_kind]})
    if personal and load_policy().require_consent_block_with_personal_data:
        rules.append({"if": {"anyOf": personal}, "then": present("consent")})
    if declared.channel is not None:
        rules.extend(_vouching_rules(declared.channel, where, declared.always_identified))
    if rules:
        schema["allOf"] = rules


def _within(field: str, rule: dict[str, Any]) -> dict[str, Any]:
    return {"required": [field], "properties": {field: {"type": "object", **rule}}}


def _vouching_rules(
    channel: Channel, where: Mapping[str, list[dict[str, Any]]], always: tuple[str, ...]
) -> list[dict[str, Any]]:
    """`verified` names only kinds the channel may vouch for and the touchpoint carries; a public channel's
    vouch needs its back end's proof."""
    from touchpoints.trust import load_trust_policy

    trust = load_trust_policy()
    kinds = [
        kind.value for kind in IdentifierKind if trust.may_vouch(channel, kind) and (kind in where or kind in always)
    ]
    item: dict[str, Any] = {"type": "object", "properties": {"kind": {"enum": kinds}}}
    if trust.is_public(channel):
        item["required"] = ["kind", "proof"]
    listed: dict[str, Any] = {"type": "array", "items": item} if kinds else {"type": "array", "maxItems": 0}
    rules: list[dict[str, Any]] = [{"properties": {"verified": {"anyOf": [listed, {"type": "null"}]}}}]
    for kind in kinds:
        if kind not in where:  # a required field carries it
            continue
        vouched = {"type": "array", "contains": {"required": ["kind"], "properties": {"kind": {"const": kind}}}}
        condition = {"required": ["verified"], "properties": {"verified": vouched}}
        rules.append({"if": condition, "then": {"anyOf": where[kind]}})
    return rules


class ChannelTouchpoint(Strict):
    """Fields every channel's touchpoint has. Subclasses say what their channel sends.

    What the OpenAPI document says beyond the fields' types, each channel declares: `channel`; `document_rules`
    (JSON Schema); `identifier_fields` (kind -> the optional fields that carry it) and `customer_data` (the field
    with the customer's own identifiers and personal data): one of them must name the customer, unless
    `always_identified` (kinds a required field carries); `personal_fields`, which need a consent block when the
    consent policy says so, like the customer's.
    """

    model_config = ConfigDict(json_schema_extra=_document_rules)
    channel: ClassVar[Channel | None] = None
    document_rules: ClassVar[tuple[dict[str, Any], ...]] = ()
    identifier_fields: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    always_identified: ClassVar[tuple[str, ...]] = ()
    personal_fields: ClassVar[tuple[str, ...]] = ()
    customer_data: ClassVar[tuple[str, type[CustomerData]] | None] = None

    event_id: EventId
    occurred_at: PastTimestamp
    consent: Annotated[list[ConsentIn], Field(max_length=20)] | None = None
    verified: Annotated[list[VerifiedIdentifier], Field(max_length=len(IdentifierKind))] | None = None
    program: ProgramName | None = None
    campaign_id: CampaignId | None = None

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
            program=self.program,
            campaign_id=self.campaign_id,
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


# Every identifier kind but a store ticket, which names a purchase rather than a person.
SUBJECT_IDENTIFIER_FIELDS = tuple(kind.value for kind in IdentifierKind if kind is not IdentifierKind.TICKET)


def names_one_of(*fields: str) -> dict[str, Any]:
    """A JSON Schema rule: at least one of `fields` is given, and not null."""
    return {"anyOf": [present(field) for field in fields]}


class SubjectIdentifiers(Strict):
    """How a request names the person it is about: any identifier the system tokenizes (at least one)."""

    model_config = ConfigDict(json_schema_extra=names_one_of(*SUBJECT_IDENTIFIER_FIELDS))

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
    """A consent change recorded outside a touchpoint (preference centre, call, counter). A `verified` kind must be
    one of the subject's identifiers and one the channel may vouch for, with its back end's proof on a public
    channel (policies/trust.yaml); JSON Schema here says it in words only (a generator cannot fold the rule)."""

    subject: SubjectIdentifiers
    consent: Annotated[list[ConsentIn], Field(min_length=1, max_length=20)]  # type: ignore[assignment]

    def to_touchpoint(self, channel: Channel) -> Touchpoint:
        return self._touchpoint(channel, self.subject.identifiers())
