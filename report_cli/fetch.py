"""The report APIs' JSON, each GET signed with SigV4 (service execute-api) as the caller's IAM identity: counts
and opaque ids only, so nothing here can hold personal data. An absent route (the programs report on an older
stack: API Gateway's 403 "Missing Authentication Token", or a 404) comes back as None; any other refusal is the
operator's failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from compliance_cli.credentials import Target
from compliance_cli.errors import CredentialsExpired, Forbidden, ToolError, Unavailable

STATES_ROUTE = "/v1/reports/profile-states"
FUNNEL_ROUTE = "/v1/reports/funnel"
DATA_QUALITY_ROUTE = "/v1/reports/data-quality"
CONTACT_PRESSURE_ROUTE = "/v1/reports/contact-pressure"
PROGRAMS_ROUTE = "/v1/reports/programs"
DEFAULT_DAYS = 30
TIMEOUT = (5, 60)


@dataclass(frozen=True)
class Reports:
    """What the HTML report is drawn from, exactly as the APIs answered (programs: None when the route is absent)."""

    source: str  # where it was read, e.g. the API's URL: shown on the page
    states: dict[str, Any]
    funnel: dict[str, Any]
    data_quality: dict[str, Any]
    contact_pressure: dict[str, Any]
    programs: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "states": self.states,
            "funnel": self.funnel,
            "data_quality": self.data_quality,
            "contact_pressure": self.contact_pressure,
            "programs": self.programs,
        }


def period(days: int, today: date | None = None) -> tuple[date, date]:
    end = today or datetime.now(UTC).date()
    return end - timedelta(days=days - 1), end


def fetch_reports(
    target: Target, days: int = DEFAULT_DAYS, http: requests.Session | None = None, today: date | None = None
) -> Reports:
    start, end = period(days, today)
    window = {"from": start.isoformat(), "to": end.isoformat()}
    with http or requests.Session() as session:

        def get(route: str, query: dict[str, str] | None = None, optional: bool = False) -> dict[str, Any] | None:
            return signed_get(session, target, route, query, optional)

        states, funnel = get(STATES_ROUTE), get(FUNNEL_ROUTE, window)
        quality, pressure = get(DATA_QUALITY_ROUTE, window), get(CONTACT_PRESSURE_ROUTE)
        programs = get(PROGRAMS_ROUTE, window, optional=True)
    assert states is not None and funnel is not None and quality is not None and pressure is not None
    return Reports(target.url, states, funnel, quality, pressure, programs)


def signed_get(
    session: requests.Session, target: Target, route: str, query: dict[str, str] | None = None, optional: bool = False
) -> dict[str, Any] | None:
    url = target.url + route + (f"?{urlencode(query)}" if query else "")
    request = AWSRequest(method="GET", url=url, data=b"")
    SigV4Auth(target.credentials, "execute-api", target.region).add_auth(request)
    try:
        answer = session.get(url, headers=dict(request.headers.items()), timeout=TIMEOUT)
    except requests.RequestException as error:
        raise Unavailable(f"the API at {target.url} cannot be reached ({type(error).__name__})") from None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if optional and _absent(answer.status_code, body):
        return None
    if answer.status_code == 200 and isinstance(body, dict):
        return body
    raise _refusal(route, answer.status_code, body if isinstance(body, dict) else {})


def _absent(status: int, body: Any) -> bool:
    """API Gateway answers a path it has no route for with 403 "Missing Authentication Token", signed or not."""
    missing = isinstance(body, dict) and body.get("message") == "Missing Authentication Token"
    return status == 404 or (status == 403 and missing)


def _refusal(route: str, status: int, body: dict[str, Any]) -> ToolError:
    error = body.get("error")
    message = str(error.get("message") if isinstance(error, dict) else body.get("message") or f"HTTP {status}")
    if status == 403 and "expired" in message.lower():
        return CredentialsExpired(f"GET {route}: {message}; get new credentials and run the command again", "expired")
    if status == 403:
        return Forbidden(
            f"GET {route} was refused ({message}): the reports need an IAM identity allowed execute-api:Invoke on "
            "/v1/reports/*",
            "iam",
        )
    if status >= 500:
        return Unavailable(f"GET {route} answered {status}: {message}; retry later")
    return ToolError(f"GET {route} answered {status}: {message}")
