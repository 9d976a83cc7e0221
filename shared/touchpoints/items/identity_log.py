"""The identity log item of the profile table (pk IDENTITY#<day>, sk <kind>#<at>#<id>): merges and conflicts.

One item per merge (written by the touchpoint that decided it, completed by the merge worker) and per
conflict (two profiles a touchpoint named could not be merged), for review by compliance
(`GET /v1/compliance/identity-log`). Subject ids, identifier kinds, the rule applied, times and
counts only: no token, no personal value, so the table's backups keep nothing of anyone.
"""

from __future__ import annotations

from typing import Final

PK_PREFIX: Final = "IDENTITY#"  # + the day, YYYY-MM-DD (UTC)
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
