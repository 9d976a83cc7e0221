"""The key vault item (pk SUBJECT#<id>, no sort key): one per subject, its data key wrapped by KMS.

Written with the subject's first touchpoint, deleted to erase the subject (every ciphertext of theirs, in the
profile table, its stream and its backups, becomes unreadable). The table keeps no backups (template.yaml).
"""

from __future__ import annotations

from typing import Final

PK: Final = "pk"
WRAPPED_KEY: Final = "wrapped_key"  # the data key encrypted under the stack's KMS key (encryption context: subject id)
CREATED_AT: Final = "created_at"

ATTRIBUTES: Final = frozenset({PK, WRAPPED_KEY, CREATED_AT})
