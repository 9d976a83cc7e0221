"""A sending channel's contact routes: ask before sending (contact-decisions), and record what was sent (contacts).

Only the channels the contact policy lists as sending (email, sms, push, contact-center) serve them, each
with its own private API key. Web and app are public clients: a key shipped in a page or an app could
otherwise probe, by profile id or identifier, who is a customer and who asked to be erased.
"""

# No `from __future__ import annotations`: the event handler reads the route signatures at runtime.

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, create_model, model_validator
from pydantic_core import PydanticCustomError

from touchpoints.api.ingest_answers import INGEST_ERRORS
from touchpoints.api.responses import ERROR_RESPONSES, ErrorBody, GuardedResolver, error_content, json_response
from touchpoints.channels.common import (
    SUBJECT_IDENTIFIER_FIELDS,
    Code,
    Documented,
    EventId,
    PastTimestamp,
    Strict,
    SubjectIdentifiers,
    names_one_of,
)
from touchpoints.classification.rules import load_rules
from touchpoints.contact.policy import MAX_AUDIENCE, load_contact_policy
from touchpoints.errors import SubjectErased
from touchpoints.model import Channel
from touchpoints.observability import MetricUnit, metrics

if TYPE_CHECKING:  # the service, its decisions and counters load with the first contact request (~7 ms of cold start)
    from touchpoints.contact.service import ContactService, Recipient

ProfileId = Annotated[
    str,
    StringConstraints(pattern=r"^sub_[0-9a-f]{32}$", strict=True),
    Documented.of(
        {
            "format": "profile-id",
            "description": "A profile_id this API returned; one that names no profile is answered as an erased "
            "person's (409), since an erased profile is gone",
        }
    ),
]
Purpose = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z_]{1,32}$", strict=True),
    Documented.of(
        {
            "enum": lambda: sorted(load_contact_policy().purposes),
            "description": "A purpose of policies/contact.yaml",
        }
    ),
]
ReservationId = Annotated[str, StringConstraints(pattern=r"^rsv_[0-9a-f]{32}$", strict=True)]
Program = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z_]{1,64}$", strict=True),
    Documented.of(
        {
            "enum": lambda: sorted(load_rules().programs),
            "description": "The program of policies/classification.yaml this contact served (another: 422 "
            "unknown_program); counted per program and campaign",
        }
    ),
]


class RecordedContact(BaseModel):
    event_id: str
    status: Literal["stored", "duplicate", "unknown_person"] = Field(
        description="unknown_person: nobody holds the identifiers, so nothing was stored"
    )
    reservation: Literal["expired", "unknown"] | None = Field(
        default=None,
        description="Only on a stored contact whose `reservation_id` held nothing (absent: no reservation named, or "
        "it became this contact). expired: its time had passed (unused, or used by another contact); unknown: it "
        "was never issued to this person, or another contact used it. The contact is stored and counted all the "
        "same (it was sent), but no reservation held its place under the caps: the person may be over a cap.",
    )


class ContactsPartlyRecorded(ErrorBody):
    """A 409 part-way through: `results` were recorded, `not_stored` name an erased person and were not."""

    channel: str
    results: list[RecordedContact]
    not_stored: list[str]


RECORD_ERRORS: dict[int, OpenAPIResponse] = {
    **ERROR_RESPONSES,
    409: {
        "description": "Some contacts name a person who asked to be erased (`not_stored`); the others were recorded",
        "content": error_content(ContactsPartlyRecorded),
    },
}


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError("unknown_time_zone", "give an IANA time zone, e.g. America/Mexico_City") from None
    return value


TimeZone = Annotated[
    str,
    StringConstraints(max_length=64, strict=True),
    AfterValidator(_known_zone),
    Documented.of({"format": "time-zone", "description": "An IANA time zone name, e.g. America/Mexico_City"}),
]


class RecipientIn(SubjectIdentifiers):
    """A person, by profile id or by any identifier the system tokenizes; `time_zone` for quiet hours."""

    model_config = ConfigDict(json_schema_extra=names_one_of("profile_id", *SUBJECT_IDENTIFIER_FIELDS))

    profile_id: ProfileId | None = None
    time_zone: TimeZone | None = None

    @model_validator(mode="after")
    def _names_someone(self) -> "RecipientIn":
        if self.profile_id is None and not self.identifiers():
            raise PydanticCustomError("no_identifier", "name the person by profile_id or an identifier")
        return self

    def recipient(self) -> "Recipient":
        from touchpoints.contact.service import Recipient

        return Recipient(self.profile_id, self.identifiers(), self.time_zone)


class DecisionsIn(Strict):
    purpose: Purpose
    campaign_id: Code
    reserve: bool = Field(default=False, description="Count every allowed contact now (it expires unless recorded)")
    recipients: Annotated[list[RecipientIn], Field(min_length=1, max_length=MAX_AUDIENCE)]


class ContactIn(Strict):
    event_id: EventId
    occurred_at: PastTimestamp
    subject: RecipientIn
    kind: Code = Field(description="email, sms, push, whatsapp_template or outbound_call, as the channel sends")
    purpose: Purpose
    campaign_id: Code
    reservation_id: ReservationId | None = None
    program: Program | None = None


class ContactsIn(Strict):
    contacts: Annotated[list[ContactIn], Field(min_length=1, max_length=25)]


def contacts_model(channel: Channel) -> type[ContactsIn]:
    """ContactsIn as the OpenAPI document shows it on one channel: `kind` is one the contact policy lets it send
    (the check stays the service's, with its unknown_contact_kind code)."""

    def kinds() -> list[str]:  # when the document is written: a cold start need not read three policies for it
        return list(load_contact_policy().channels.get(channel, ()))  # type: ignore[call-overload]

    name = "".join(part.title() for part in channel.value.split("-"))
    kind = Annotated[Code, Documented.of({"enum": kinds, "description": "What this channel sends (contact.yaml)"})]
    contact = create_model(f"{name}ContactIn", __base__=ContactIn, kind=(kind, ...))
    listed = Annotated[list[contact], Field(min_length=1, max_length=25)]  # type: ignore[valid-type]
    return create_model(f"{name}ContactsIn", __base__=ContactsIn, contacts=(listed, ...))


def add_contact_routes(app: GuardedResolver, channel: Channel, contact_service: Callable[[], "ContactService"]) -> None:
    """Register the two contact routes of a sending channel on its resolver."""
    channel_contacts = contacts_model(channel)

    @app.post(
        f"/v1/{channel.value}/contact-decisions",
        summary=f"May these people be contacted on {channel.value} now, for this purpose?",
        description=(
            f"Up to {MAX_AUDIENCE} recipients, by profile id or identifiers. The answer: `decisions`, one per "
            "recipient in the request's order: `index`, `allowed`, `profile_id` (only if the request named it), and "
            "when refused `reason` (no_consent, suppressed, not_contactable_on_channel, frequency_cap, quiet_hours) "
            "and `allowed_at` (when time alone will allow it, else null). A frequency_cap whose `allowed_at` holds "
            "only if a live reservation of this person expires unused also says `allowed_at_because: "
            "live_reservations_expire_unused` and `allowed_at_if_reservations_used` (when it is allowed if those "
            "reservations are recorded as contacts): ask again at `allowed_at`, not a day later, only if you know "
            "they will not be recorded. No personal data. With `reserve: true` "
            "every allowed contact is counted at once, atomically per person (`reservation_id`, "
            "`reservation_expires_at`): record the contact with it, or it expires unused."
        ),
        responses={200: {"description": "One decision per recipient, in the request's order"}, **INGEST_ERRORS},
        tags=[channel.value],
    )
    def post_contact_decisions(body: Annotated[DecisionsIn, Body()]) -> Response[dict[str, Any]]:
        from touchpoints.contact.decide import DecisionRequest

        request = DecisionRequest(channel.value, body.purpose, body.campaign_id)
        answers = contact_service().decide(request, [r.recipient() for r in body.recipients], body.reserve)
        metrics.add_dimension(name="channel", value=channel.value)
        allowed = sum(1 for a in answers if a.decision.allowed)
        metrics.add_metric(name="ContactsAllowed", unit=MetricUnit.Count, value=allowed)
        metrics.add_metric(name="ContactsRefused", unit=MetricUnit.Count, value=len(answers) - allowed)
        return json_response(
            200,
            {
                "channel": channel.value,
                "purpose": body.purpose,
                "campaign_id": body.campaign_id,
                "policy_version": load_contact_policy().version,
                "decisions": [a.as_dict() for a in answers],
            },
        )

    @app.post(
        f"/v1/{channel.value}/contacts",
        summary=f"Record contacts sent on {channel.value} (kind, purpose, campaign; never the content)",
        description=(
            "Up to 25 under `contacts`. A retried event_id is a duplicate and counts once. `program` (optional, "
            "a program of classification.yaml) and `campaign_id` are kept on the person's contact history and "
            "counted per day, program, campaign and channel. A stored contact whose `reservation_id` held nothing "
            "says why in `reservation` (expired or unknown): stored and counted all the same (it was sent), but "
            "no reservation held its place under the caps."
        ),
        responses={200: {"description": "Each contact stored, duplicate or of an unknown person"}, **RECORD_ERRORS},
        tags=[channel.value],
    )
    def post_contacts(body: Annotated[channel_contacts, Body()]) -> Response[dict[str, Any]]:  # type: ignore[valid-type]
        from touchpoints.contact.service import ContactRecord

        sent: list[ContactIn] = body.contacts  # type: ignore[attr-defined]
        contacts = [
            (
                c.subject.recipient(),
                ContactRecord(
                    c.event_id, c.occurred_at, c.kind, c.purpose, c.campaign_id, c.reservation_id or "", c.program
                ),
            )
            for c in sent
        ]
        outcome = contact_service().record(channel.value, contacts)
        answer: dict[str, Any] = {"channel": channel.value, "results": [r.as_dict() for r in outcome.results]}
        if outcome.refused:
            raise SubjectErased(
                "some contacts name a person who asked to be erased; they were not recorded, the others were",
                context={**answer, "not_stored": list(outcome.refused)},
            )
        return json_response(200, answer)
