"""The key vault item (pk SUBJECT#<id>, no sort key): one per subject, its data key wrapped.

Written with the subject's first touchpoint, deleted to erase the subject (every ciphertext of theirs, in the
profile table, its stream and its backups, becomes unreadable). The table keeps no backups (template.yaml).

`wrapped_key` is the data key wrapped under a branch key version (touchpoints.privacy.branch_keys: the envelope
names its version, the subject id is its associated data), or, in items written before the key hierarchy and not
yet moved by a rotation, the data key encrypted by KMS itself (encryption context: the subject id).
"""

from __future__ import annotations

from typing import Any, Final

from touchpoints.privacy.branch_keys import version_of

PK: Final = "pk"
WRAPPED_KEY: Final = "wrapped_key"
CREATED_AT: Final = "created_at"
# The branch key version `wrapped_key` is wrapped under; absent: wrapped by KMS (legacy). The rotation's scans
# filter on it; the envelope itself says the same.
BRANCH_VERSION: Final = "branch_version"
REWRAPPED_AT: Final = "rewrapped_at"  # when a rotation last moved the item to another version

ATTRIBUTES: Final = frozenset({PK, WRAPPED_KEY, CREATED_AT, BRANCH_VERSION, REWRAPPED_AT})


def wrapped_key_attributes(wrapped: bytes) -> dict[str, Any]:
    """`wrapped_key` and, for a branch-wrapped key, `branch_version`, in DynamoDB's typed JSON."""
    version = version_of(wrapped)
    return {WRAPPED_KEY: {"B": wrapped}, **({BRANCH_VERSION: {"S": version}} if version else {})}
