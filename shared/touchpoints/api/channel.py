"""The HTTP API of one channel function: POST touchpoints and consents, in the channel's own shape."""

# No `from __future__ import annotations`: the event handler reads the route signatures at runtime.

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, Field

from touchpoints import container, snapshot
from touchpoints.api import guards
from touchpoints.api.responses import (
    ERROR_RESPONSES,
    RETRY_AFTER_HEADER,
    ErrorBody,
    GuardedResolver,
    error_content,
    json_response,
)
from touchpoints.channels import PAYLOAD_MODELS, ChannelTouchpoint, ConsentSubmission, TouchpointBatch
from touchpoints.contact.policy import SENDING_CHANNELS
from touchpoints.errors import SubjectErased
from touchpoints.ingestion import BatchOutcome, IngestStatus, ingest_touchpoints
from touchpoints.model import Channel, Touchpoint
from touchpoints.observability import MetricUnit, metrics
from touchpoints.settings import channel_settings
from touchpoints.trust import load_trust_policy


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


def _respond(channel: Channel, touchpoints: list[Touchpoint], outcome: BatchOutcome) -> Response[IngestResponse]:
    metrics.add_dimension(name="channel", value=channel.value)
    for result in outcome.results:
        metrics.add_metric(
            name="TouchpointsStored" if result.status is IngestStatus.STORED else "TouchpointsDuplicate",
            unit=MetricUnit.Count,
            value=1,
        )
    if outcome.refused:
        metrics.add_metric(name="TouchpointsRefused", unit=MetricUnit.Count, value=len(outcome.refused))
    public = load_trust_policy().is_public(channel)
    if public:
        pending = set(outcome.not_attempted) - set(outcome.refused)
        service = container.ingestion_service()
        results = [service.accepted(t).as_dict() for t in touchpoints if t.event_id not in pending]
        not_stored = [t.event_id for t in touchpoints if t.event_id in pending]
    else:
        results, not_stored = [r.as_dict() for r in outcome.results], list(outcome.not_attempted)
    body: dict[str, Any] = {"channel": channel.value, "results": results}
    if outcome.failure is not None:
        metrics.add_metric(name="TouchpointsFailed", unit=MetricUnit.Count, value=len(outcome.not_attempted))
        failure = outcome.failure
        raise type(failure)(failure.message, context={**body, "not_stored": not_stored}) from failure
    if outcome.refused and not public:
        raise SubjectErased(
            "some touchpoints name a person who asked to be erased; they were not stored, the others were",
            context={**body, "not_stored": list(outcome.refused)},
        )
    return json_response(200, body)


def channel_api(channel: Channel) -> GuardedResolver:
    """The resolver a channel's Lambda handler serves."""
    payload_model = PAYLOAD_MODELS[channel]
    batch_model = TouchpointBatch[payload_model]  # type: ignore[valid-type]
    snapshot.prime_before_snapshot(batch_model.model_rebuild)
    snapshot.prime_before_snapshot(ConsentSubmission.model_rebuild)
    app = GuardedResolver(
        guards.all_of(
            guards.api_key(lambda: channel_settings().channel_api_key_id, f"channel {channel.value}"),
            guards.json_body(lambda: channel_settings().max_body_bytes),
        ),
        refusal_dimensions={"channel": channel.value},
        enable_validation=True,
    )

    @app.post(
        f"/v1/{channel.value}/touchpoints",
        summary=f"Ingest {channel.value} touchpoints",
        description=(
            "One touchpoint, or up to 25 under `touchpoints`. Retrying the same event_id never stores it twice."
        ),
        responses={200: {"description": "Each touchpoint stored or recognised as a duplicate"}, **INGEST_ERRORS},
        tags=[channel.value],
    )
    def post_touchpoints(batch: Annotated[batch_model, Body()]) -> Response[IngestResponse]:  # type: ignore[valid-type]
        items: list[ChannelTouchpoint] = batch.touchpoints  # type: ignore[attr-defined]
        touchpoints = [item.to_touchpoint(channel) for item in items]
        return _respond(channel, touchpoints, ingest_touchpoints(container.ingestion_service(), touchpoints))

    @app.post(
        f"/v1/{channel.value}/consents",
        summary=f"Record consent given or withdrawn on {channel.value}",
        responses={200: {"description": "Consent recorded"}, **INGEST_ERRORS},
        tags=[channel.value],
    )
    def post_consents(submission: Annotated[ConsentSubmission, Body()]) -> Response[IngestResponse]:
        touchpoint = submission.to_touchpoint(channel)
        return _respond(channel, [touchpoint], ingest_touchpoints(container.ingestion_service(), [touchpoint]))

    if channel in SENDING_CHANNELS:
        from touchpoints.api.contact import add_contact_routes  # only sending channels load it

        add_contact_routes(app, channel)
    return app
