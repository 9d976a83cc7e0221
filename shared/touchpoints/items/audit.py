"""The audit entry item of the audit table (pk REQUEST#<id>, sk <at>#<random>): one per action on a request.

Append-only. Who did what, when, to which subject (by id and tokens only), with counts: no personal value.
"""

from __future__ import annotations

from typing import Final

PK: Final = "pk"
SK: Final = "sk"
REQUEST_ID: Final = "request_id"
ACTION: Final = "action"
ACTOR: Final = "actor"  # the caller's IAM ARN, or the worker that acted
AT: Final = "at"
KIND: Final = "kind"  # the request's kind
REGULATION: Final = "regulation"
OUTCOME: Final = "outcome"
COUNTS: Final = "counts"  # map: name -> number
SUBJECT_ID: Final = "subject_id"  # absent when the action named no subject
TOKENS: Final = "tokens"  # list of keyed identifier tokens; absent when none

ATTRIBUTES: Final = frozenset(
    {PK, SK, REQUEST_ID, ACTION, ACTOR, AT, KIND, REGULATION, OUTCOME, COUNTS, SUBJECT_ID, TOKENS}
)
