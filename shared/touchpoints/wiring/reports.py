"""The report function: the state distribution, the funnel and the data quality from the classifier's counters
(`touchpoints.wiring.classifier` builds their store), contact pressure and failed events from the profile table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from touchpoints.adapters.audience_store import DynamoAudienceStore
from touchpoints.adapters.contact_store import DynamoContactReports
from touchpoints.adapters.failed_events import DynamoFailedEvents
from touchpoints.api.responses import GuardedResolver
from touchpoints.api.state_report import ReportSources, state_report_api
from touchpoints.classification.attribution import ProgramsReport, load_attribution_policy
from touchpoints.classification.audience import AudienceRules, audience_page, audience_query
from touchpoints.classification.funnel import FunnelReport
from touchpoints.classification.rules import load_rules
from touchpoints.classification.service import (
    StateReport,
    data_quality_report,
    funnel_report,
    programs_report,
    state_report,
)
from touchpoints.contact.policy import load_contact_policy
from touchpoints.contact.report import contact_pressure
from touchpoints.observability import api_entrypoint
from touchpoints.sdk import failed_events
from touchpoints.sdk.failed_events import FailedEventCount
from touchpoints.wiring.classifier import settings, store
from touchpoints.wiring.container import LambdaHandler, client, per_container


def states() -> StateReport:
    return state_report(store(), load_rules())


def funnel(start: date, end: date) -> FunnelReport:
    return funnel_report(store(), start, end)


def programs(
    start: date,
    end: date,
    sent: Mapping[tuple[str, str | None, str], int],
    pulled: Mapping[tuple[str, str | None], int],
) -> ProgramsReport:
    return programs_report(store(), start, end, sent, pulled, attribution=load_attribution_policy())


def audience_pulled(start: date, end: date) -> Mapping[tuple[str, str | None], int]:
    """Ids pulled per (program, campaign id, None for none) between these days, from the audiences' counters."""
    return {(program, campaign or None): n for (program, campaign), n in audience_store().pulled(start, end).items()}


def data_quality(start: date, end: date) -> dict[str, Any]:
    return data_quality_report(store(), start, end).as_dict()


@per_container
def contact_reports() -> DynamoContactReports:
    config = settings()
    return DynamoContactReports(client(config, "dynamodb"), config.profile_table)


def contact_pressure_report() -> dict[str, Any]:
    return contact_pressure(contact_reports(), load_contact_policy())


def contacts_sent(from_day: date, to_day: date) -> dict[tuple[str, str | None, str], int]:
    """(program, campaign id, channel) -> contacts sent for a program over these days, for the programs report."""
    return contact_reports().contacts_sent(from_day, to_day)


@per_container
def failed_event_store() -> DynamoFailedEvents:
    config = settings()
    return DynamoFailedEvents(client(config, "dynamodb"), config.profile_table)


def failed_events_report(channels: list[str], days: int) -> list[FailedEventCount]:
    return failed_events.report(failed_event_store(), channels, datetime.now(UTC), days)


@per_container
def audience_store() -> DynamoAudienceStore:
    config = settings()
    return DynamoAudienceStore(client(config, "dynamodb"), config.profile_table, config.counter_table)


@per_container
def audience_rules() -> AudienceRules:
    return AudienceRules.load()


def audience(
    program: str, channel: str, purpose: str, cursor: str | None, limit: int, campaign_id: str | None
) -> dict[str, Any]:
    query = audience_query(audience_rules(), program, channel, purpose)
    return audience_page(audience_store(), query, cursor, limit, campaign_id).as_dict()


SOURCES = ReportSources(
    states=states,
    funnel=funnel,
    data_quality=data_quality,
    contact_pressure=contact_pressure_report,
    failed_events=failed_events_report,
    audience=audience,
    programs=programs,
    contacts_sent=contacts_sent,
    audience_pulled=audience_pulled,
)


def report_function() -> tuple[GuardedResolver, LambdaHandler]:
    """The report function's app (its routes) and its Lambda handler."""
    app = state_report_api(SOURCES)
    return app, api_entrypoint(app)
