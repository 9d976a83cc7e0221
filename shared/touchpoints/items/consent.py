"""The consent history item of the profile table (pk SUBJECT#<id>, sk CONSENT#<purpose:scope>#<time>)."""

from __future__ import annotations

from typing import Final

ENTITY: Final = "consent"

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
SUBJECT_ID: Final = "subject_id"
CONSENT: Final = "consent"  # encoded as items.profile.consent_attribute
EVENT_ID: Final = "event_id"  # the touchpoint that carried the answer
REQUEST_ID: Final = "request_id"  # or the compliance request that withdrew it
