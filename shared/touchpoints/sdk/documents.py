"""The SDK routes' bodies and answers as the OpenAPI document describes them (the mapping reads raw messages)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import JsonDict, SkipJsonSchema

SdkCall = Literal["batch", "identify", "track", "page", "screen", "group", "alias"]
# analytics.js posts to <apiHost>/<first letter of the call>, `b` for a batch.
BrowserCall = Literal[
    "b", "i", "t", "p", "s", "g", "a", "batch", "identify", "track", "page", "screen", "group", "alias"
]
BROWSER_CALLS: dict[str, SdkCall] = {
    "b": "batch",
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}


class SdkAnswer(BaseModel):
    model_config = ConfigDict(defer_build=True)

    success: bool = Field(description="true: accepted (invalid messages of a batch are reported as failed events)")


_ID = r"^[A-Za-z0-9._:@\-]{1,128}$"
SdkId = Annotated[str, StringConstraints(pattern=_ID)]
# A time in the past, as the SDKs write it (ISO 8601, UTC): the future is refused (occurred_in_future).
_PAST_TIME = (
    r"^20(1[0-9]|2[0-5])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,3})?Z$"
)


class SdkTraitsDoc(BaseModel):
    """The traits that are kept (policies/sdk.yaml); any other trait is accepted and dropped, never stored."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    email: str | None = Field(
        default=None, pattern=r"^[a-z0-9]{1,20}(\.[a-z0-9]{1,20})?@[a-z0-9]{1,20}\.(com|mx|net|org)$"
    )
    phone: str | None = Field(
        default=None, description="E.164, or ten Mexican digits", pattern=r"^\+52(55|33|81)[0-9]{8}$"
    )
    firstName: str | None = Field(default=None, pattern=r"^[A-Za-zÁÉÍÓÚáéíóúÑñ][A-Za-zÁÉÍÓÚáéíóúÑñ' -]{0,49}$")
    lastName: str | None = Field(default=None, pattern=r"^[A-Za-zÁÉÍÓÚáéíóúÑñ][A-Za-zÁÉÍÓÚáéíóúÑñ' -]{0,49}$")
    birthday: str | None = Field(
        default=None, description="YYYY-MM-DD", pattern=r"^19[4-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"
    )
    gender: Literal["female", "male", "non_binary", "undisclosed"] | None = None
    rfc: str | None = Field(
        default=None, description="Mexico's RFC with its check digit", json_schema_extra={"format": "mx-rfc"}
    )
    curp: str | None = Field(
        default=None, description="Mexico's CURP with its check digit", json_schema_extra={"format": "mx-curp"}
    )
    loyaltyId: str | None = Field(default=None, pattern=_ID)


class ConsentDoc(BaseModel):
    model_config = ConfigDict(defer_build=True)

    categoryPreferences: dict[str, bool] = Field(
        description="A consent manager's categories: Analytics, Personalization, Advertising/Marketing -> purposes"
    )


class SdkContextDoc(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    consent: ConsentDoc | SkipJsonSchema[None] = None
    traits: SdkTraitsDoc | None = None


_CONSENT_REQUIRED: JsonDict = {"required": ["context"], "properties": {"context": {"required": ["consent"]}}}


class SdkMessageDoc(BaseModel):
    """One Segment message. A userId or an anonymousId (a string, not null) is required; traits with personal
    data need the consent manager's answer (context.consent.categoryPreferences); a track needs its event."""

    model_config = ConfigDict(
        extra="allow",
        defer_build=True,
        json_schema_extra={
            "anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}],
            "allOf": [
                {"if": {"required": ["traits"]}, "then": _CONSENT_REQUIRED},
                {
                    "if": {"required": ["context"], "properties": {"context": {"required": ["traits"]}}},
                    "then": _CONSENT_REQUIRED,
                },
                {"if": {"properties": {"type": {"const": "track"}}}, "then": {"required": ["event"]}},
                {"if": {"properties": {"type": {"const": "alias"}}}, "then": {"required": ["userId", "previousId"]}},
            ],
        },
    )

    type: Literal["identify", "track", "page", "screen", "group", "alias"] = Field(
        description="What the message is; on a single call's route (/v1/track...) the route says it when absent"
    )
    messageId: str = Field(pattern=r"^[A-Za-z0-9._:@\-]{1,100}$", description="Deduplicates retries")
    userId: SdkId | SkipJsonSchema[None] = None
    anonymousId: SdkId | SkipJsonSchema[None] = None
    previousId: SdkId | SkipJsonSchema[None] = None
    event: Annotated[str, StringConstraints(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    name: str | None = Field(default=None, max_length=200)
    traits: SdkTraitsDoc | None = None
    properties: dict[str, Any] | None = None
    context: SdkContextDoc | None = None
    timestamp: str | None = Field(default=None, pattern=_PAST_TIME, description="Corrected by sentAt")
    originalTimestamp: str | None = Field(default=None, pattern=_PAST_TIME)


class SdkBatchDoc(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    batch: list[SdkMessageDoc] = Field(max_length=100)
    sentAt: str | None = Field(default=None, pattern=_PAST_TIME)


SDK_BODY = SdkBatchDoc | SdkMessageDoc


class SdkError(BaseModel):
    """Every refusal of the SDK API, the gateway's included: the SDKs read `code` and `message`."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    success: Literal[False]
    code: str = Field(description="invalid_write_key, malformed_json, payload_too_large, message_too_large, ...")
    message: str
