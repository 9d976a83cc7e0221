"""The report function: the state distribution, the funnel and the data quality from the classifier's counters
(`touchpoints.wiring.classifier` builds their store), contact pressure and failed events from the profile table."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from touchpoints.adapters.contact_store import DynamoContactReports
from touchpoints.adapters.failed_events import DynamoFailedEvents
from touchpoints.api.responses import GuardedResolver
from touchpoints.api.state_report import ReportSources, state_report_api
from touchpoints.classification import (
    FunnelReport,
    StateReport,
    data_quality_report,
    funnel_report,
    load_rules,
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


def data_quality(start: date, end: date) -> dict[str, Any]:
    return data_quality_report(store(), start, end).as_dict()


@per_container
def contact_reports() -> DynamoContactReports:
    config = settings()
    return DynamoContactReports(client(config, "dynamodb"), config.profile_table)


def contact_pressure_report() -> dict[str, Any]:
    return contact_pressure(contact_reports(), load_contact_policy())


@per_container
def failed_event_store() -> DynamoFailedEvents:
    config = settings()
    return DynamoFailedEvents(client(config, "dynamodb"), config.profile_table)


def failed_events_report(channels: list[str], days: int) -> list[FailedEventCount]:
    return failed_events.report(failed_event_store(), channels, datetime.now(UTC), days)


SOURCES = ReportSources(
    states=states,
    funnel=funnel,
    data_quality=data_quality,
    contact_pressure=contact_pressure_report,
    failed_events=failed_events_report,
)


def report_function() -> tuple[GuardedResolver, LambdaHandler]:
    """The report function's app (its routes) and its Lambda handler."""
    app = state_report_api(SOURCES)
    return app, api_entrypoint(app)
