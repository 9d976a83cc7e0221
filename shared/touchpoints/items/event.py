"""The event item of the profile table (pk SUBJECT#<id>, sk EVENT#<channel>#<event id>): one per touchpoint."""

from __future__ import annotations

from typing import Final

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
