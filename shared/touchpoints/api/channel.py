"""The HTTP API of one channel function: POST touchpoints and consents, in the channel's own shape."""

# No `from __future__ import annotations`: the event handler reads the route signatures at runtime.

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from touchpoints.api import guards
from touchpoints.api.channel_services import ChannelServices
from touchpoints.api.ingest_answers import INGEST_ERRORS, IngestResponse
from touchpoints.api.responses import (
    GuardedResolver,
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


def _respond(
    channel: Channel, services: ChannelServices, touchpoints: list[Touchpoint], outcome: BatchOutcome
) -> Response[IngestResponse]:
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
        service = services.ingestion()
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


def channel_api(channel: Channel, services: ChannelServices) -> GuardedResolver:
    """The resolver a channel's Lambda handler serves."""
    payload_model = PAYLOAD_MODELS[channel]
    batch_model = TouchpointBatch[payload_model]  # type: ignore[valid-type]
    services.prime_before_snapshot(batch_model.model_rebuild)
    services.prime_before_snapshot(ConsentSubmission.model_rebuild)
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
        return _respond(channel, services, touchpoints, ingest_touchpoints(services.ingestion(), touchpoints))

    @app.post(
        f"/v1/{channel.value}/consents",
        summary=f"Record consent given or withdrawn on {channel.value}",
        responses={200: {"description": "Consent recorded"}, **INGEST_ERRORS},
        tags=[channel.value],
    )
    def post_consents(submission: Annotated[ConsentSubmission, Body()]) -> Response[IngestResponse]:
        touchpoint = submission.to_touchpoint(channel)
        return _respond(channel, services, [touchpoint], ingest_touchpoints(services.ingestion(), [touchpoint]))

    if channel in SENDING_CHANNELS:
        from touchpoints.api.contact import add_contact_routes  # only sending channels load it

        add_contact_routes(app, channel, services.contact)
    return app
