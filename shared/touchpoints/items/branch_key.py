"""The branch key table's items (pk <branch key id>, sk <type>): the KMS-protected keys that wrap every person's
data key, and the rotation that moves the vault from one version to the next.

Laid out like the AWS Material Providers Library's key store (pk `branch-key-id`, sk `type`):

- `branch:version:<version>`: one per version, `enc` its 32-byte key encrypted by the stack's KMS key (encryption
  context: branch key id and version). Deleted only when a rotation retires it, once no vault item needs it.
- `branch:ACTIVE`: which version wraps new data keys (`version`), with that version's `enc`: one read gives both.
- `rotation`: the current (or last) rotation: its target version, cursors, counts and heartbeat (never a key).

The table has point-in-time recovery: a lost branch key would make every data key it wraps unreadable, and a
restored copy resurrects no erased person (their data key, in the key vault, has no copy anywhere).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

BRANCH_KEY_ID: Final = "subject-data-keys"  # the one logical branch key; its versions rotate

PK: Final = "pk"
SK: Final = "sk"
ACTIVE_SK: Final = "branch:ACTIVE"
VERSION_SK_PREFIX: Final = "branch:version:"
ROTATION_SK: Final = "rotation"

# branch:version:<v> and branch:ACTIVE
ENC: Final = "enc"  # KMS ciphertext of the version's key material
VERSION: Final = "version"
CREATED_AT: Final = "created_at"

# rotation
STATE: Final = "state"  # rewrapping | finished
TARGET: Final = "target"  # the version every vault item is moved to
STARTED_AT: Final = "started_at"
SETTLED_AT: Final = "settled_at"  # after it, no container wraps a new key under an older version
ESTIMATED_ITEMS: Final = "estimated_items"  # the vault's item count when the rotation started (DescribeTable)
SEGMENTS: Final = "segments"  # map: segment number -> the scan's last evaluated subject id, "" (not begun) or DONE
COUNTS: Final = "counts"  # map: scanned | moved | gone -> number
HEARTBEAT_AT: Final = "heartbeat_at"
RUNNER: Final = "runner"  # which job holds the rotation (a random id per run): two jobs never write one cursor
RETIRED: Final = "retired"  # the versions finish deleted
FINISHED_AT: Final = "finished_at"

REWRAPPING: Final = "rewrapping"
FINISHED: Final = "finished"
DONE: Final = "done"


def version_sk(version: str) -> str:
    return f"{VERSION_SK_PREFIX}{version}"


def new_version() -> str:
    """A new version's name: a random UUID, as the Material Providers Library's (32 hex digits here)."""
    return uuid.uuid4().hex


def encryption_context(version: str) -> dict[str, str]:
    """What KMS seals a version's `enc` under; the functions' IAM allows Decrypt with exactly these keys."""
    return {"branch_key_id": BRANCH_KEY_ID, "branch_key_version": version}


def key(sk: str) -> dict[str, Any]:
    return {PK: {"S": BRANCH_KEY_ID}, SK: {"S": sk}}


def version_item(version: str, enc: bytes, now: datetime) -> dict[str, Any]:
    return {**key(version_sk(version)), VERSION: {"S": version}, ENC: {"B": enc}, CREATED_AT: {"S": now.isoformat()}}


def active_item(version: str, enc: bytes) -> dict[str, Any]:
    return {**key(ACTIVE_SK), VERSION: {"S": version}, ENC: {"B": enc}}
