"""Segment tracking-API messages -> touchpoints, as policies/sdk.yaml says. Pure: no I/O, no clock of its own."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, TypeAdapter, ValidationError

from touchpoints.channels.common import CustomerData, PagePath
from touchpoints.errors import FieldProblem, InvalidTouchpoint
from touchpoints.model import Channel, ConsentGrant, IdentifierKind, Touchpoint, Trace
from touchpoints.normalize import opaque_id
from touchpoints.sdk.policy import SdkPolicy

CALLS = ("identify", "track", "page", "screen", "group", "alias")
Call = Literal["identify", "track", "page", "screen", "group", "alias"]
_FUTURE_TOLERANCE = timedelta(minutes=5)


def _id_text(value: Any) -> Any:
    """Segment allows numeric ids; they are the same id as their decimal text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


SdkId = Annotated[str, BeforeValidator(_id_text), StringConstraints(min_length=1, max_length=128, strict=True)]
_Text = Annotated[str, StringConstraints(max_length=200, strict=True)]


class SegmentMessage(BaseModel):
    """The fields of a message this system reads; the rest (integrations, writeKey...) is ignored, never kept."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    type: Call
    messageId: Annotated[str, StringConstraints(min_length=1, strict=True)]
    userId: SdkId | None = None
    anonymousId: SdkId | None = None
    previousId: SdkId | None = None
    groupId: SdkId | None = None
    event: _Text | None = None
    name: _Text | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None

    def __repr_args__(self) -> Any:
        return iter(())  # no values in repr: they are personal data


@dataclass(frozen=True, slots=True)
class Received:
    """What the request says about time: when API Gateway received it and the batch's sentAt."""

    received_at: datetime
    sent_at: datetime | None = None


def message_id(message: Mapping[str, Any], policy: SdkPolicy) -> str | None:
    """The message's id when it is a valid event id, else None (an invalid one is never recorded anywhere)."""
    value = message.get("messageId")
    if isinstance(value, str) and len(value) <= policy.limits.max_message_id_length:
        try:
            return opaque_id(value)
        except ValueError:
            return None
    return None


def to_touchpoint(
    raw: Mapping[str, Any], channel: Channel, received: Received, policy: SdkPolicy, call: Call | None = None
) -> Touchpoint:
    """One message as a touchpoint. Raises InvalidTouchpoint (field paths and codes, never values)."""
    body = dict(raw)
    if call is not None and "type" not in body:
        body["type"] = call  # a single call's route says what the message is when the message does not
    try:
        message = SegmentMessage.model_validate(body)
    except ValidationError as error:
        raise _invalid(error.errors(include_input=False)) from None
    event_id = message_id(body, policy)
    if event_id is None:
        raise InvalidTouchpoint("invalid message id", [FieldProblem(("messageId",), "invalid_message_id", "bad id")])
    rule = policy.channels[channel]
    identifiers: dict[IdentifierKind, str] = {}
    for loc, value, kind in (
        ("userId", message.userId, rule.user_id),
        ("anonymousId", message.anonymousId, IdentifierKind.ANONYMOUS_ID),
    ):
        if value is not None:
            identifiers[kind] = _identifier(loc, value)
    if message.type == "alias" and message.previousId is not None:
        # alias links two identities: a touchpoint carrying both; their profiles are not merged here
        identifiers.setdefault(IdentifierKind.ANONYMOUS_ID, _identifier("previousId", message.previousId))
    customer = _customer(message, channel, policy)
    identifiers = {**customer.identifiers(), **identifiers}
    if not identifiers:
        raise InvalidTouchpoint(
            "no identifier", [FieldProblem(("userId",), "no_identifier", "give a userId or an anonymousId")]
        )
    occurred_at = _occurred_at(message, received, policy)
    consents, declared = _consents(message, channel, occurred_at, policy)
    return Touchpoint(
        channel=channel,
        event_id=event_id,
        occurred_at=occurred_at,
        identifiers=identifiers,
        personal_data=customer.personal_data(),
        trace=_trace(message, policy),
        consents=consents,
        consent_declared=declared,
    )


def _invalid(errors: list[Any], prefix: tuple[str | int, ...] = ()) -> InvalidTouchpoint:
    problems = [FieldProblem((*prefix, *e["loc"]), str(e["type"]), str(e["msg"])) for e in errors]
    return InvalidTouchpoint("the message is invalid", problems)


def _identifier(loc: str, value: str) -> str:
    try:
        return opaque_id(value)
    except ValueError:
        raise InvalidTouchpoint("invalid id", [FieldProblem((loc,), "invalid_identifier", "bad id")]) from None


def _customer(message: SegmentMessage, channel: Channel, policy: SdkPolicy) -> CustomerData:
    context_traits = (message.context or {}).get("traits")
    traits: dict[str, Any] = dict(context_traits) if isinstance(context_traits, dict) else {}
    if message.type == "identify":  # a group's traits are the company's, not the person's
        traits |= message.traits or {}
    fields = policy.trait_fields(channel)
    data: dict[str, Any] = {}
    trait_of: dict[str, str] = {}
    for trait, value in traits.items():
        if trait in fields and value not in (None, ""):
            data[fields[trait]] = value
            trait_of[fields[trait]] = trait
    name = traits.get("name")
    if isinstance(name, str) and " " in name.strip() and not {"given_name", "family_name"} & data.keys():
        data["given_name"], data["family_name"] = name.strip().split(" ", 1)
        trait_of["given_name"] = trait_of["family_name"] = "name"
    if isinstance(data.get("birth_date"), str):
        data["birth_date"] = data["birth_date"][:10]  # SDKs send a date as a full ISO timestamp
    if isinstance(data.get("gender"), str):
        data["gender"] = data["gender"].strip().lower()
    if isinstance(address := data.get("postal_address"), dict):
        data["postal_address"] = {
            "street": address.get("street"),
            "city": address.get("city"),
            "state": address.get("state"),
            "postal_code": address.get("postalCode", address.get("postal_code")),
            **({"country": address["country"]} if address.get("country") else {}),
        }
    try:
        return CustomerData.model_validate(data)
    except ValidationError as error:
        errors = [
            {**e, "loc": ("traits", trait_of.get(str(e["loc"][0]), e["loc"][0]), *e["loc"][1:])}
            for e in error.errors(include_input=False)
        ]
        raise _invalid(errors) from None


def _occurred_at(message: SegmentMessage, received: Received, policy: SdkPolicy) -> datetime:
    """Segment's clock correction: receivedAt - (sentAt - originalTimestamp), within the policy's bound."""
    client_time = message.originalTimestamp or message.timestamp
    sent_at = message.sentAt or received.sent_at
    if client_time is None:
        return received.received_at
    if client_time.tzinfo is None:
        raise InvalidTouchpoint("naive time", [FieldProblem(("timestamp",), "timezone_required", "give a zone")])
    occurred_at = client_time
    if sent_at is not None and sent_at.tzinfo is not None:
        skew = received.received_at - sent_at
        if abs(skew.total_seconds()) <= policy.limits.max_clock_correction_seconds:
            occurred_at = client_time + skew
    if occurred_at > received.received_at + _FUTURE_TOLERANCE:
        raise InvalidTouchpoint("in the future", [FieldProblem(("timestamp",), "occurred_in_future", "future")])
    return occurred_at


def _consents(
    message: SegmentMessage, channel: Channel, occurred_at: datetime, policy: SdkPolicy
) -> tuple[tuple[ConsentGrant, ...], bool]:
    consent = (message.context or {}).get("consent")
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if preferences is None:
        return (), False
    if not isinstance(preferences, dict) or not all(isinstance(v, bool) for v in preferences.values()):
        loc = ("context", "consent", "categoryPreferences")
        raise InvalidTouchpoint("bad consent", [FieldProblem(loc, "invalid_consent", "categories map to booleans")])
    grants = {}
    for category, granted in preferences.items():
        purpose = policy.consent_categories.get(category)
        if purpose is not None:
            grants[purpose] = ConsentGrant(purpose, channel.value, granted, occurred_at)
    return tuple(grants.values()), True


def _trace(message: SegmentMessage, policy: SdkPolicy) -> Trace | None:
    properties = message.properties or {}
    details: dict[str, str | int | float | bool] = {}
    if message.type == "page":
        path = properties.get("path") or ((message.context or {}).get("page") or {}).get("path")
        if isinstance(path, str) and _valid(PagePath, path):
            details["page_path"] = path
        return Trace(policy.page.kind, policy.page.action, details)
    if message.type == "screen":
        if message.name:
            details["screen"] = message.name
        return Trace(policy.screen.kind, policy.screen.action, details)
    if message.type != "track":
        return None
    if not message.event:
        raise InvalidTouchpoint("track needs an event", [FieldProblem(("event",), "event_required", "name it")])
    rule = policy.event_rule(message.event)
    details["event"] = message.event
    for key in ("order_id", "currency"):
        if isinstance(properties.get(key), str) and len(properties[key]) <= 64:
            details[key] = properties[key]
    for key in ("total", "revenue", "value"):
        amount = properties.get(key)
        if isinstance(amount, int | float) and not isinstance(amount, bool) and 0 <= amount <= 10_000_000:
            details["total"] = float(amount)
            break
    return Trace(rule.kind, rule.action, details)


@cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def _valid(annotation: Any, value: Any) -> bool:
    try:
        _adapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return True


def message_bytes(message: Any) -> int:
    """A message's size as Segment counts it: its compact JSON."""
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())


__all__ = ["CALLS", "Call", "Received", "SegmentMessage", "message_bytes", "message_id", "to_touchpoint"]
