"""GET /v1/reports/profile-states, /v1/reports/funnel, /v1/reports/data-quality, /v1/reports/programs and
/v1/reports/contact-pressure: counts only, for business users (IAM). The state distribution, the funnel and
the data quality are read from the classifier's counters (their cost does not grow with the profiles)."""

# No `from __future__ import annotations`: the event handler reads the route signatures at runtime.

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, Field

from touchpoints.api import guards
from touchpoints.api.responses import ERROR_RESPONSES, GuardedResolver, json_response
from touchpoints.channels.common import Code
from touchpoints.classification.attribution import ProgramsReport
from touchpoints.classification.audience import MAX_PAGE
from touchpoints.classification.funnel import FunnelReport
from touchpoints.classification.service import FunnelRangeInvalid, StateReport, check_report_range
from touchpoints.errors import FieldProblem, InvalidTouchpoint
from touchpoints.model import Channel
from touchpoints.sdk.failed_events import FailedEventCount

ROUTE = "/v1/reports/profile-states"
FUNNEL_ROUTE = "/v1/reports/funnel"
DEFAULT_FUNNEL_DAYS = 30
CONTACT_PRESSURE_ROUTE = "/v1/reports/contact-pressure"
DATA_QUALITY_ROUTE = "/v1/reports/data-quality"
FAILED_EVENTS_ROUTE = "/v1/reports/failed-events"
PROGRAMS_ROUTE = "/v1/reports/programs"
AUDIENCES_ROUTE = "/v1/reports/audiences"


ContactsSent = Mapping[tuple[str, str | None, str], int]
AudiencePulled = Mapping[tuple[str, str | None], int]


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


class ProgramMove(BaseModel):
    from_state: str = Field(alias="from", description="State letter before, or `none` for a new profile")
    to_state: str = Field(alias="to", description="A more complete state letter after")
    channel: str = Field(description="Channel of the program's touchpoint that moved it")
    count: int


class ProgramEffect(BaseModel):
    program: str = Field(description="A program of policies/classification.yaml")
    campaign_id: str | None = Field(description="The campaign, or null for the program's touchpoints without one")
    audience_pulled: int = Field(description="Profiles pulled into the program's audiences for this campaign")
    contacts_sent: int = Field(description="Contacts recorded as sent for this program and campaign")
    contacts_by_channel: dict[str, int] = Field(description="Channel -> contacts sent")
    moved: int = Field(description="Moves to a more complete state by the program's touchpoints (moves, not people)")
    moves: list[ProgramMove] = Field(description="Those moves by from, to and the touchpoint's channel")
    moved_after_contact: int = Field(
        description="Moves to a more complete state within attribution_days after a contact of this program and "
        "campaign (credited to the latest such contact)"
    )
    moved_after_contact_by_channel: dict[str, int] = Field(description="Channel of that latest contact -> moves")


class ProgramsReportBody(BaseModel):
    generated_at: str
    from_day: str = Field(alias="from")
    to_day: str = Field(alias="to")
    attribution_days: int = Field(description="policies/attribution.yaml: the window after a contact")
    programs: list[ProgramEffect] = Field(description="Per program and campaign with anything to count")


@dataclass(frozen=True)
class ReportSources:
    """Where each report is read, handed in by `touchpoints.wiring.reports`."""

    states: Callable[[], StateReport]
    funnel: Callable[[date, date], FunnelReport]
    data_quality: Callable[[date, date], dict[str, Any]]
    contact_pressure: Callable[[], dict[str, Any]]
    failed_events: Callable[[list[str], int], list[FailedEventCount]]
    # The programs report: the classifier's counters, given the contacts sent per (program or None, campaign id,
    # channel) and the audience pulled per (program, campaign id) between two days, read from their own counters
    programs: Callable[[date, date, ContactsSent, AudiencePulled], ProgramsReport]
    contacts_sent: Callable[[date, date], ContactsSent]
    audience_pulled: Callable[[date, date], AudiencePulled]
    # (program, channel, purpose, cursor, limit, campaign id) -> a page of the audience
    audience: Callable[[str, str, str, str | None, int, str | None], dict[str, Any]]


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
        PROGRAMS_ROUTE,
        summary="Program effectiveness: audience, contacts and the moves credited, per program and campaign",
        description=(
            "Per migration program and campaign between two days (UTC, inclusive; default the last 30 days, at most "
            "366): the audience pulled, the contacts sent by channel, the moves to a more complete state by the "
            "program's touchpoints, and those within attribution_days after a contact of it. Read from counters: "
            "its cost does not grow with the profiles. Counts only. IAM (SigV4) auth."
        ),
        responses={200: {"description": "The report"}, **ERROR_RESPONSES},
        tags=["reports"],
    )
    def get_programs(
        from_day: Annotated[date | None, Query(alias="from")] = None,
        to_day: Annotated[date | None, Query(alias="to")] = None,
    ) -> Response[ProgramsReportBody]:
        end = to_day or datetime.now(UTC).date()
        start = from_day or end - timedelta(days=DEFAULT_FUNNEL_DAYS - 1)
        try:
            check_report_range(start, end)
        except FunnelRangeInvalid as error:
            problem = FieldProblem(("query", "to"), "date_range", str(error))
            raise InvalidTouchpoint("the date range cannot be reported", [problem]) from None
        sent, pulled = sources.contacts_sent(start, end), sources.audience_pulled(start, end)
        return json_response(200, sources.programs(start, end, sent, pulled).as_dict())

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

    @app.get(
        AUDIENCES_ROUTE,
        summary="A program's audience: the people it is recommended for, reachable on a channel for a purpose",
        description=(
            "Profile ids only, paged: the live profiles the classifier recommends `program` for that contact decisions "
            "would not refuse on `channel` for `purpose` for consent or a missing contact field (caps and quiet hours "
            "are decided when the campaign asks). Read from a sparse index the classifier keeps: each page costs one "
            "query per index shard, whatever the audience's size. A page may hold fewer than `limit` ids, even none, "
            "while `next_cursor` is set; give it back as `cursor` for the next page. With `campaign_id`, the ids "
            "served are counted for that campaign (the programs report). IAM (SigV4) auth."
        ),
        responses={200: {"description": "One page of profile ids"}, **ERROR_RESPONSES},
        tags=["reports"],
    )
    def get_audience(
        program: Annotated[str, Query(pattern=r"^[a-z_]{1,64}$", description="A program of classification.yaml")],
        channel: Annotated[str, Query(pattern=r"^[a-z\-]{1,32}$", description="A sending channel")],
        purpose: Annotated[str, Query(pattern=r"^[a-z_]{1,32}$", description="A purpose of contact.yaml")],
        cursor: Annotated[str | None, Query(max_length=4096, description="The last page's next_cursor")] = None,
        limit: Annotated[int, Query(ge=8, le=MAX_PAGE, description="Ids per page, at most (multiple of 8)")] = MAX_PAGE,
        campaign_id: Annotated[Code | None, Query(description="Count the ids pulled for this campaign")] = None,
    ) -> Response[dict[str, Any]]:
        return json_response(200, sources.audience(program, channel, purpose, cursor, limit, campaign_id))

    return app
