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
