"""The failed-event item of the profile table (pk FAILED#<channel>#<day>, sk <time>#<n>): one SDK message refused.

Codes, field paths and the SDK's message id only: never a submitted value. Kept `RETENTION_DAYS`.
"""

from __future__ import annotations

from typing import Final

ENTITY: Final = "failed_event"
PK_PREFIX: Final = "FAILED#"
RETENTION_DAYS: Final = 30

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
CHANNEL: Final = "channel"
DAY: Final = "day"
ERROR_CODE: Final = "error_code"
FIELD: Final = "field"  # the field path, e.g. traits.email
MESSAGE_ID: Final = "message_id"  # absent when the message's own id was invalid
FAILED_AT: Final = "failed_at"
EXPIRES_AT: Final = "expires_at"  # epoch seconds (TTL)


def pk(channel: str, day: str) -> str:
    return f"{PK_PREFIX}{channel}#{day}"
