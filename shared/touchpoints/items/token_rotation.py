"""The token secret rotation item of the identity index (pk ROTATION#tokenization-secret, sk STATE): the move
job's progress, cursors and heartbeat (touchpoints.privacy.token_rotation). Versions, times, cursors of scans
(table keys: tokens and subject ids, never a value) and counts."""

from __future__ import annotations

from typing import Final

PK_VALUE: Final = "ROTATION#tokenization-secret"
SK_VALUE: Final = "STATE"

PK: Final = "pk"
SK: Final = "sk"
FROM_VERSION: Final = "from_version"
TO_VERSION: Final = "to_version"
PHASE: Final = "phase"
STARTED_AT: Final = "started_at"
PHASE_SINCE: Final = "phase_since"
PROPAGATION_SECONDS: Final = "propagation_seconds"
TOTAL_SEGMENTS: Final = "total_segments"
CURSORS: Final = "cursors"  # map: "<scan>#<segment>" -> the scan's last evaluated key as JSON, "" or "done"
COUNTS: Final = "counts"  # map: name -> number
HEARTBEAT_AT: Final = "heartbeat_at"  # every saved page moves it; `save` is conditional on the one read
PASSES: Final = "passes"
LAST_PASS_MOVED: Final = "last_pass_moved"
FINISHED_AT: Final = "finished_at"
