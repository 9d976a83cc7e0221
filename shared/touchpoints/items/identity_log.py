"""The identity log item of the profile table (pk IDENTITY#<day>#<shard>, sk <kind>#<at>#<id>): merges and
conflicts.

One item per merge (written by the touchpoint that decided it, completed by the merge worker) and per
conflict (two profiles a touchpoint named could not be merged), for review by compliance
(`GET /v1/compliance/identity-log`). Subject ids, identifier kinds, the rule applied, times and
counts only: no token, no personal value, so the table's backups keep nothing of anyone.
"""

from __future__ import annotations

import zlib
from typing import Final

PK_PREFIX: Final = "IDENTITY#"  # + the day, YYYY-MM-DD (UTC), + "#" and the shard
# A day's log spread over this many partitions by its log id: at 3,000 touchpoints/s one day partition took
# ~1,100 WCU/s (merges and conflicts at the load mix's rate), above DynamoDB's 1,000 per partition key.
# Entries written before the shards (pk IDENTITY#<day>) are still read, as one more partition.
SHARDS: Final = 8
ENTITY: Final = "identity_log"

PK: Final = "pk"
SK: Final = "sk"  # "<kind>#<at>#<log id>"
ENTITY_ATTR: Final = "entity"
KIND: Final = "kind"  # MERGE or CONFLICT
LOG_ID: Final = "log_id"  # the merge id, or "<channel>:<event id>" of the conflicting touchpoint
AT: Final = "at"
CHANNEL: Final = "channel"
EVENT_ID: Final = "event_id"  # the touchpoint that decided it
SURVIVOR: Final = "survivor"  # the subject id kept (a conflict: the one the touchpoint was stored on)
SUBJECTS: Final = "subjects"  # list: the other subject ids involved (absorbed, or left apart)
KINDS: Final = "kinds"  # list: identifier kinds that linked the profiles
CONFLICTING_KINDS: Final = "conflicting_kinds"  # list: unique kinds that kept them apart (conflicts only)
RULE: Final = "rule"  # the policy rule applied, e.g. "survivor:strongest_identifier" or "conflict:unique_kind"
POLICY_VERSION: Final = "policy_version"
STATE: Final = "state"  # a merge: claimed, completed, or abandoned (the survivor was erased meanwhile)
COMPLETED_AT: Final = "completed_at"
COUNTS: Final = "counts"  # map: name -> number (items moved, duplicates, tokens re-pointed, keys destroyed)

MERGE: Final = "MERGE"
CONFLICT: Final = "CONFLICT"
CLAIMED: Final = "claimed"
COMPLETED: Final = "completed"
ABANDONED: Final = "abandoned"


def partition(day: str, log_id: str) -> str:
    """The partition key of a log entry: its day, and a shard fixed by its log id (the merge worker finds it)."""
    return f"{PK_PREFIX}{day}#{zlib.crc32(log_id.encode()) % SHARDS}"


def partitions(day: str) -> tuple[str, ...]:
    """Every partition a day's entries may be in, the unsharded one of older entries first."""
    return (f"{PK_PREFIX}{day}", *(f"{PK_PREFIX}{day}#{shard}" for shard in range(SHARDS)))
