"""The token item (pk TOKEN#<token>, sk TOKEN): who holds an identifier, or its suppression.

Held in the identity index table, which has no backups. A suppression marker is also copied, without its
request id, into the profile table: the backed-up suppression list, which names no subject (docs/compliance.md).
"""

from __future__ import annotations

from typing import Final

SK_VALUE: Final = "TOKEN"
ENTITY_HELD: Final = "token"
ENTITY_SUPPRESSION: Final = "suppression"

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
SUBJECT_ID: Final = "subject_id"  # the holder; absent on a suppression marker
CREATED_AT: Final = "created_at"
REQUEST_ID: Final = "request_id"  # the compliance request that claimed or suppressed it
SUPPRESSED: Final = "suppressed"  # true on a suppression marker
ERASED_AT: Final = "erased_at"
