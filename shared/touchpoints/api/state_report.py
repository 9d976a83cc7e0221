"""GET /v1/reports/profile-states and /v1/reports/contact-pressure: counts only, for business users (IAM)."""

# No `from __future__ import annotations`: the event handler reads the route signatures at runtime.

from typing import Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, Field

from touchpoints import profile_states
from touchpoints.api import guards
from touchpoints.api.responses import ERROR_RESPONSES, GuardedResolver, json_response

ROUTE = "/v1/reports/profile-states"
CONTACT_PRESSURE_ROUTE = "/v1/reports/contact-pressure"


class ProfileStateReport(BaseModel):
    rules_version: str = Field(description="Version of policies/classification.yaml the report is read with")
    generated_at: str
    total: int = Field(description="Active profiles")
    by_state: dict[str, int] = Field(description="State letter (A-G, U) -> profiles")
    by_origin: dict[str, dict[str, int]] = Field(description="Channel of origin -> state letter -> profiles")


def state_report_api() -> GuardedResolver:
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
        return json_response(200, profile_states.report().as_dict())

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
        return json_response(200, profile_states.contact_pressure_report())

    return app
