"""Shared by the contact tests: asking for decisions and recording contacts as a sending channel does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any


def zone_where_it_is(hour: int, now: datetime | None = None) -> str:
    """An IANA zone (Etc/GMT±N) whose local hour is `hour` right now: tests choose day or night."""
    now = now or datetime.now(UTC)
    offset = (hour - now.hour + 12) % 24 - 12  # UTC+offset, in [-12, 11]
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # POSIX sign: Etc/GMT-5 is UTC+5


DAYTIME = 13  # local hour the tests ask at when quiet hours must not interfere


def decisions_body(
    recipients: list[dict[str, Any]], purpose: str = "marketing", campaign: str = "buen-fin-2026", **extra: Any
) -> dict[str, Any]:
    return {"purpose": purpose, "campaign_id": campaign, "recipients": recipients, **extra}


def daytime(recipient: dict[str, Any]) -> dict[str, Any]:
    return {**recipient, "time_zone": zone_where_it_is(DAYTIME)}


def contact(
    subject: dict[str, Any], kind: str, purpose: str = "marketing", campaign: str = "buen-fin-2026", **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": f"snt-{uuid.uuid4().hex[:12]}",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "subject": subject,
        "kind": kind,
        "purpose": purpose,
        "campaign_id": campaign,
        **extra,
    }


def contact_route_body(path: str, email: str) -> dict[str, Any] | None:
    """A body valid for a sending channel's contact route (a decision asked, or a contact of the first kind the
    channel records, policies/contact.yaml), about the person with this email; None for any other route."""
    from touchpoints.contact.policy import load_contact_policy
    from touchpoints.model import Channel

    if path.endswith("/contact-decisions"):
        return decisions_body([daytime({"email": email})])
    if path.endswith("/contacts"):
        kind = load_contact_policy().channels[Channel(path.split("/")[2])][0]
        return {"contacts": [contact({"email": email}, kind)]}
    return None
