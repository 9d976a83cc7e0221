"""GET /v1/reports/profile-states, /v1/reports/funnel, /v1/reports/data-quality and
/v1/reports/contact-pressure: counts only, for business users (IAM). The state distribution, the funnel and
the data quality are read from the classifier's counters (their cost does not grow with the profiles)."""

# No `from __future__ import annotations`: the event handler reads the route signatures at runtime.

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from touchpoints.api import guards
from touchpoints.api.responses import ERROR_RESPONSES, GuardedResolver, json_response
from touchpoints.classification import FunnelRangeInvalid, FunnelReport, StateReport
from touchpoints.errors import FieldProblem, InvalidTouchpoint
from touchpoints.model import Channel
from touchpoints.sdk.failed_events import FailedEventCount

ROUTE = "/v1/reports/profile-states"
FUNNEL_ROUTE = "/v1/reports/funnel"
DEFAULT_FUNNEL_DAYS = 30
CONTACT_PRESSURE_ROUTE = "/v1/reports/contact-pressure"
DATA_QUALITY_ROUTE = "/v1/reports/data-quality"
FAILED_EVENTS_ROUTE = "/v1/reports/failed-events"


class ProfileStateReport(BaseModel):
    rules_version: str = Field(description="Version of policies/classification.yaml the report is read with")
    generated_at: str
    total: int = Field(description="Active profiles")
    by_state: dict[str, int] = Field(description="State letter (A-G, U) -> profiles")
    by_origin: dict[str, dict[str, int]] = Field(description="Channel of origin -> state letter -> profiles")


class Transition(BaseModel):
    from_state: str = Field(alias="from", description="State letter before, or `none` for a new profile")
    to_state: str = Field(alias="to", description="State letter after, or `gone` (erased or merged away)")
    channel: str = Field(description="Channel of the touchpoint that moved it, or time, rules, compliance, identity")
    action: str = Field(description="The touchpoint's action (e.g. ticket_registration), or what else moved it")
    profiles: int


class FunnelDay(BaseModel):
    day: str
    transitions: list[Transition]


class FunnelReportBody(BaseModel):
    from_day: str = Field(alias="from")
    to_day: str = Field(alias="to")
    generated_at: str
    days: list[FunnelDay] = Field(description="Days with at least one move, oldest first")
    totals: list[Transition] = Field(description="Each move summed over the range")


class TouchpointQuality(BaseModel):
    channel: str
    action: str = Field(description="The touchpoint's action, e.g. ticket_registration")
    touchpoints: int = Field(description="Touchpoints of this channel's action the classifier counted")
    confirmed_identity: int = Field(description="Those that confirmed or updated at least one identity field")
    confirmed_contact: int = Field(description="Those that confirmed or updated at least one contact field")
    identity_share: float = Field(description="confirmed_identity / touchpoints")
    contact_share: float = Field(description="confirmed_contact / touchpoints")
    fields: dict[str, int] = Field(description="Field name -> touchpoints that confirmed or updated it")


class FieldAge(BaseModel):
    profiles: int = Field(description="Active classified profiles")
    buckets: list[str] = Field(description="Age buckets in days since the field was last confirmed, then never")
    by_field: dict[str, dict[str, int]] = Field(description="Field name -> bucket -> profiles")


class DataQualityReportBody(BaseModel):
    from_day: str = Field(alias="from")
    to_day: str = Field(alias="to")
    generated_at: str
    touchpoints: list[TouchpointQuality] = Field(description="Per channel and action, over the days asked")
    field_age: FieldAge = Field(description="How stale each field is across profiles, now")


class FailedEventCountOut(BaseModel):
    channel: str
    day: str = Field(description="UTC day, YYYY-MM-DD")
    error_code: str = Field(description="Why the message was refused, e.g. invalid_email, consent_required")
    field: str = Field(description="Where in the message, e.g. traits.email (never the value)")
    count: int
    latest_message_ids: list[str] = Field(description="The SDK's messageId of the latest refused messages")


class FailedEventsReport(BaseModel):
    generated_at: str
    days: int
    failed_events: list[FailedEventCountOut]


@dataclass(frozen=True)
class ReportSources:
    """Where each report is read, handed in by `touchpoints.wiring.reports`."""

    states: Callable[[], StateReport]
    funnel: Callable[[date, date], FunnelReport]
    data_quality: Callable[[date, date], dict[str, Any]]
    contact_pressure: Callable[[], dict[str, Any]]
    failed_events: Callable[[list[str], int], list[FailedEventCount]]


def state_report_api(sources: ReportSources) -> GuardedResolver:
    """The resolver of the report function. Only IAM callers; a channel's API key is refused."""
    app = GuardedResolver(guards.iam_caller("the profile state report"), enable_validation=True)

    @app.get(
        ROUTE,
        summary="How many profiles sit in each state, per channel of origin",
        description="Counts of active profiles only: no subject id and no personal data. IAM (SigV4) auth.",
        responses={200: {"description": "The distribution"}, **ERROR_RESPONSES},
        tags=["reports"],
    )
    def get_profile_states() -> Response[ProfileStateReport]:
        return json_response(200, sources.states().as_dict())

    @app.get(
        FUNNEL_ROUTE,
        summary="How many profiles moved from which state to which, per day, channel and action",
        description=(
            "The migration funnel between two days (UTC, inclusive; default the last 30 days, at most 366). "
            "Counts only: no subject id and no personal data. IAM (SigV4) auth."
        ),
        responses={200: {"description": "The moves"}, **ERROR_RESPONSES},
        tags=["reports"],
    )
    def get_funnel(
        from_day: Annotated[date | None, Query(alias="from")] = None,
        to_day: Annotated[date | None, Query(alias="to")] = None,
    ) -> Response[FunnelReportBody]:
        end = to_day or datetime.now(UTC).date()
        start = from_day or end - timedelta(days=DEFAULT_FUNNEL_DAYS - 1)
        try:
            return json_response(200, sources.funnel(start, end).as_dict())
        except FunnelRangeInvalid as error:
            problem = FieldProblem(("query", "to"), "date_range", str(error))
            raise InvalidTouchpoint("the date range cannot be reported", [problem]) from None

    @app.get(
        DATA_QUALITY_ROUTE,
        summary="Data quality per touchpoint: which channels' actions confirm identity and contact fields",
        description=(
            "Per channel and action between two days (UTC, inclusive; default the last 30 days, at most 366), the "
            "share of touchpoints that confirmed or updated identity or contact fields; and, across active profiles "
            "now, how long ago each field was last confirmed. Counts only. IAM (SigV4) auth."
        ),
        responses={200: {"description": "The report"}, **ERROR_RESPONSES},
        tags=["reports"],
    )
    def get_data_quality(
        from_day: Annotated[date | None, Query(alias="from")] = None,
        to_day: Annotated[date | None, Query(alias="to")] = None,
    ) -> Response[DataQualityReportBody]:
        end = to_day or datetime.now(UTC).date()
        start = from_day or end - timedelta(days=DEFAULT_FUNNEL_DAYS - 1)
        try:
            return json_response(200, sources.data_quality(start, end))
        except FunnelRangeInvalid as error:
            problem = FieldProblem(("query", "to"), "date_range", str(error))
            raise InvalidTouchpoint("the date range cannot be reported", [problem]) from None

    @app.get(
        CONTACT_PRESSURE_ROUTE,
        summary="Contact pressure: people by contacts received in the last 7 and 30 days; cap hits",
        description=(
            "Counts only. `people_by_contacts` maps N (contacts sent) to how many people received N; `cap_hits` counts "
            "reserved contact decisions a frequency cap refused, per channel and campaign, over 30 days. IAM auth."
        ),
        responses={200: {"description": "The report"}, **ERROR_RESPONSES},
        tags=["reports"],
    )
    def get_contact_pressure() -> Response[dict[str, Any]]:
        return json_response(200, sources.contact_pressure())

    @app.get(
        FAILED_EVENTS_ROUTE,
        summary="What each channel's SDK sent that was refused: counts per channel, day, error code and field",
        description=(
            "Messages of valid SDK batches (/sdk/<channel>/v1/...) that were refused, so a channel owner sees what "
            "its SDK sends wrong (SDKs drop errors silently). Codes, field paths and message ids only: never a "
            "submitted value. Kept 30 days. IAM (SigV4) auth."
        ),
        responses={200: {"description": "The counts"}, **ERROR_RESPONSES},
        tags=["reports"],
    )
    def get_failed_events(
        days: Annotated[int, Query(ge=1, le=30, description="How many days back, today included")] = 7,
        channel: Annotated[Channel | None, Query(description="One channel; all when absent")] = None,
    ) -> Response[FailedEventsReport]:
        channels = [channel.value] if channel is not None else [c.value for c in Channel]
        counts = sources.failed_events(channels, days)
        body = {
            "generated_at": datetime.now(UTC).isoformat(),
            "days": days,
            "failed_events": [c.as_dict() for c in counts],
        }
        return json_response(200, body)

    return app
