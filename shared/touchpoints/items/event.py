"""The event item of the profile table (pk SUBJECT#<id>, sk EVENT#<channel>#<event id>): one per touchpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

ENTITY: Final = "event"

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
SUBJECT_ID: Final = "subject_id"
CHANNEL: Final = "channel"
EVENT_ID: Final = "event_id"
RECEIVED_AT: Final = "received_at"
TRACE: Final = "trace"  # the trace kind, or "none"
ACTION: Final = "action"
OCCURRED_AT: Final = "occurred_at"
MINIMIZED: Final = "minimized"
DETAILS: Final = "details"  # ciphertext
EXPIRES_AT: Final = "expires_at"  # epoch seconds (TTL)

# Outbound contacts (recorded by a sending channel): trace "none", action "sent_<kind>"
CONTACT_KIND: Final = "contact_kind"
PURPOSE: Final = "purpose"
CAMPAIGN_ID: Final = "campaign_id"


def details_field(channel: str, event_id: str) -> str:
    """The associated-data name a trace's details are encrypted under (with the subject id)."""
    return f"trace:{channel}:{event_id}"


def encrypted_attributes(item: Mapping[str, Any]) -> dict[str, str]:
    """Attribute -> associated-data name, for every encrypted value of an event item in typed JSON.

    What re-encrypts a person's events (a merge) reads them from here, so a newly encrypted attribute is one line.
    """
    if DETAILS not in item:
        return {}
    return {DETAILS: details_field(item[CHANNEL]["S"], item[EVENT_ID]["S"])}
