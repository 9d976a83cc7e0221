"""The token link item of the identity index (pk SUBJECT#<id>, sk LINK#<token>): one per identifier a subject holds.

Written with the token's claim (ingestion, rectification), deleted with its release or the subject's purge.
Listing them by query replaces a token set on the profile, which grew with every identifier (issue 17).
"""

from __future__ import annotations

from typing import Final

SK_PREFIX: Final = "LINK#"
ENTITY: Final = "link"

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
KIND: Final = "kind"  # the identifier kind, readable in the token too
CREATED_AT: Final = "created_at"
