"""The answers of the ingesting routes (channels' touchpoints and consents, sending channels' contacts) and their
documented errors: shared by `api.channel` and `api.contact`, so that neither imports the other for them."""

# No `from __future__ import annotations`: the event handler reads these models at runtime.

from typing import Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

from touchpoints.api.responses import ERROR_RESPONSES, RETRY_AFTER_HEADER, ErrorBody, error_content


class IngestResult(BaseModel):
    """A private channel's answer (email, SMS, push, contact center, store): what happened, and to which profile."""

    event_id: str
    status: Literal["stored", "duplicate"]
    profile_id: str
    new_profile: bool
    dropped_fields: list[str]
    identity: Literal["single", "merged", "conflict"] = Field(
        description="single: the identifiers found one profile (or a new one); merged: several, now being merged "
        "into this one; conflict: several that are not one person (or a second unique identifier): stored on "
        "the strongest match, the others left apart for review, their values not copied"
    )


class AcceptedResult(BaseModel):
    """A public channel's answer (web, app): the same whether the person is known, new or erased (and then not
    stored), and for a retry; `dropped_fields` is what the touchpoint's own consent block does not let us keep."""

    event_id: str
    status: Literal["accepted"]
    dropped_fields: list[str]


class IngestResponse(BaseModel):
    channel: str
    results: list[IngestResult | AcceptedResult]


class PartialFailure(ErrorBody):
    """A 409 or 503 part-way through a batch: `results` were stored, `not_stored` were not."""

    channel: str
    results: list[IngestResult | AcceptedResult]
    not_stored: list[str]


INGEST_ERRORS: dict[int, OpenAPIResponse] = {
    **ERROR_RESPONSES,
    409: {
        "description": (
            "Private channels only: some touchpoints name an erased person (`not_stored`); the others were stored"
            " (`results`). A public channel's touchpoint of an erased person is answered `accepted` and not stored"
        ),
        "content": error_content(PartialFailure),
    },
    503: {
        "description": "A dependency (KMS, DynamoDB, secret) is down: `results` were stored, `not_stored` were not",
        "headers": RETRY_AFTER_HEADER,
        "content": error_content(PartialFailure),
    },
}
