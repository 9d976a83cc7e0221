"""The request item of the compliance table (pk REQUEST#<id>, sk REQUEST): one per data-subject request.

Ids, tokens, times and counts only: no personal value (the table keeps point-in-time backups).
"""

from __future__ import annotations

from typing import Final

SK_VALUE: Final = "REQUEST"
ENTITY: Final = "request"

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
REQUEST_ID: Final = "request_id"
KIND: Final = "kind"
REGULATION: Final = "regulation"
CASE_REFERENCE: Final = "case_reference"
REQUESTED_BY: Final = "requested_by"  # the caller's IAM ARN
RECEIVED_AT: Final = "received_at"
DEADLINE: Final = "deadline"  # ISO date, computed once when received
STATE: Final = "state"
UPDATED_AT: Final = "updated_at"
SUPPRESS: Final = "suppress"
COUNTS: Final = "counts"  # map: name -> number
REVISION: Final = "revision"  # optimistic lock
TOKENS: Final = "tokens"  # list of keyed identifier tokens
SUBJECT_ID: Final = "subject_id"
STEP: Final = "step"  # the erasure's next step
COMPLETED_AT: Final = "completed_at"
FAILURE: Final = "failure"  # an error code, never a message
STEPS: Final = "steps"  # list of maps {step, at, counts}: the erasure's certificate record

# Members of a step record's map (STEPS)
RECORD_STEP: Final = "step"
RECORD_AT: Final = "at"
RECORD_COUNTS: Final = "counts"  # map: name -> number

# DeadlineIndex (sparse: only request items carry these)
QUEUE_STATE: Final = "queue_state"  # = STATE
QUEUE_DUE: Final = "queue_due"  # "<deadline>#<received at>#<request id>", the queue's order
DEADLINE_INDEX: Final = "DeadlineIndex"
