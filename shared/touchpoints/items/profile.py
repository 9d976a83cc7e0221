"""The profile item (pk SUBJECT#<id>, sk PROFILE): one per person, written by five writers.

Names only, and the encoding of the nested values in DynamoDB's typed JSON: no SDK here, so
the domain (the classifier reading a stream image) uses the same names as the adapters.
No attribute is found by its prefix: `trace_kinds` (the classifier's list) sits beside
`trace_visit` (ingestion's counter), and a reader that took every `trace_*` for a counter
answered 500 (issue 11).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from touchpoints.consent import ConsentRecord
from touchpoints.model import IdentifierKind, TraceKind

ENTITY: Final = "profile"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Keys and identity of the item
PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
SUBJECT_ID: Final = "subject_id"

# Written by ingestion (adapters/profile_store.py); fields and tokens also by rectification
STATUS: Final = "status"  # ACTIVE, or ERASING once an erasure froze the profile
CREATED_AT: Final = "created_at"
UPDATED_AT: Final = "updated_at"
ORIGIN_CHANNEL: Final = "origin_channel"
CHANNELS: Final = "channels"  # string set
# How many identifier tokens of each kind the person holds (the tokens are LINK#<token> items in the partition)
LINK_COUNTERS: Final[Mapping[str, str]] = {kind.value: f"links_{kind.value}" for kind in IdentifierKind}
FIELDS: Final = "fields"  # map: field name -> {v: ciphertext, at: confirmed at, ch: channel}
# string set: the fields whose value came from a trusted source (a private channel, or a touchpoint that proved
# whose it is or vouched for the value: policies/trust.yaml); an unverified value never replaces them
VERIFIED_FIELDS: Final = "verified_fields"
CONSENTS: Final = "consents"  # map: "purpose:scope" -> {granted, at, at_us, source, policy_version}
# +1 on every consent change (not on an answer given again unchanged); writers condition on it
CONSENT_VERSION: Final = "consent_version"
VERSION: Final = "version"  # +1 on every data change
LAST_TRACE_AT: Final = "last_trace_at"
CHANGED_BY: Final = "changed_by"  # the last writer; the classifier's stream filter drops its own writes
TRACE_COUNTERS: Final[Mapping[TraceKind, str]] = {kind: f"trace_{kind.value}" for kind in TraceKind}
# The channel and action of the last touchpoint written: what the funnel credits when the state moves
LAST_CHANNEL: Final = "last_channel"
LAST_ACTION: Final = "last_action"
# The program and campaign of the last touchpoint written (absent when it named none): what the funnel credits too
LAST_PROGRAM: Final = "last_program"
LAST_CAMPAIGN: Final = "last_campaign"

# Written by the classifier and the reclassifier (adapters/classification_store.py)
STATE: Final = "state"
PREVIOUS_STATE: Final = "previous_state"
STATE_CHANGED_AT: Final = "state_changed_at"
STATE_KEY: Final = "state_key"  # StateIndex partition key: <state>#<origin>#<shard>
DIMENSIONS: Final = "dimensions"  # list
MISSING: Final = "missing"  # list
IDENTITY_BY: Final = "identity_by"  # list
CONTACT_CHANNELS: Final = "contact_channels"  # list
TRACE_KINDS: Final = "trace_kinds"  # list of the trace kinds still counting (not a counter)
STALE_FIELDS: Final = "stale_fields"  # list
RECOMMENDATIONS: Final = "recommendations"  # list
CLASSIFIED_AT: Final = "classified_at"
RULES_VERSION: Final = "rules_version"
CLASSIFIED_VERSION: Final = "classified_version"
CLASSIFIED_CONSENT_VERSION: Final = "classified_consent_version"
RECLASSIFY_AT: Final = "reclassify_at"
RECLASSIFY_DAY: Final = "reclassify_day"  # ReclassifyIndex partition key: <day>#<shard>
COUNTED_STATE: Final = "counted_state"  # the state the StateCounterTable counts this profile in (items/counter.py)
# What the data-quality counters hold of this profile (items/counter.py): the revision last counted, and each
# field's confirmation time as counted in the field-age histogram (map: field name -> ISO time)
QUALITY_VERSION: Final = "quality_version"
QUALITY_COUNTED: Final = "quality_counted"
# Whose counts hold this profile's last classification (touchpoints.classification.counts): the token of the tally
# (a stream batch) that counts it; absent when that classification counted nothing or parked its counts
COUNTS_BY: Final = "counts_by"
# Counts a sweep or a count of existing profiles parked here until its tally commits: "<token> <cells as JSON>"
COUNTS_PENDING: Final = "counts_pending"
# The audiences the classifier keeps this profile in (items/audience.py), as `classification.audience.encode` writes
# them: "<program>=<channel>:<purpose>,...;..."; absent for none. The classifier's alone.
AUDIENCES: Final = "audiences"

# Written by the eraser (adapters/erasure_store.py)
ERASURE_REQUEST: Final = "erasure_request"

# Written when the profile is absorbed by another (ingestion claims it, the merge worker completes it):
# the profile becomes a tombstone that sends every late touchpoint and request to the survivor.
MERGED_INTO: Final = "merged_into"  # the survivor's subject id
MERGE_ID: Final = "merge_id"
MERGE_STEP: Final = "merge_step"  # the merge's next step (touchpoints.identity.merge.MergeStep)
MERGE_COUNTS: Final = "merge_counts"  # map: name -> number, kept with the step
MERGED_AT: Final = "merged_at"

ATTRIBUTES: Final = frozenset(
    {
        PK,
        SK,
        ENTITY_ATTR,
        SUBJECT_ID,
        STATUS,
        CREATED_AT,
        UPDATED_AT,
        ORIGIN_CHANNEL,
        CHANNELS,
        *LINK_COUNTERS.values(),
        FIELDS,
        VERIFIED_FIELDS,
        CONSENTS,
        CONSENT_VERSION,
        VERSION,
        LAST_TRACE_AT,
        CHANGED_BY,
        *TRACE_COUNTERS.values(),
        LAST_CHANNEL,
        LAST_ACTION,
        LAST_PROGRAM,
        LAST_CAMPAIGN,
        STATE,
        PREVIOUS_STATE,
        STATE_CHANGED_AT,
        STATE_KEY,
        DIMENSIONS,
        MISSING,
        IDENTITY_BY,
        CONTACT_CHANNELS,
        TRACE_KINDS,
        STALE_FIELDS,
        RECOMMENDATIONS,
        CLASSIFIED_AT,
        RULES_VERSION,
        CLASSIFIED_VERSION,
        CLASSIFIED_CONSENT_VERSION,
        RECLASSIFY_AT,
        RECLASSIFY_DAY,
        COUNTED_STATE,
        QUALITY_VERSION,
        QUALITY_COUNTED,
        COUNTS_BY,
        COUNTS_PENDING,
        AUDIENCES,
        ERASURE_REQUEST,
        MERGED_INTO,
        MERGE_ID,
        MERGE_STEP,
        MERGE_COUNTS,
        MERGED_AT,
    }
)

# Values
ACTIVE: Final = "active"
ERASING: Final = "erasing"
MERGING: Final = "merging"  # claimed by a merge: its items are moving to the survivor
MERGED: Final = "merged"  # a tombstone: nothing left but where it went
WRITER_INGEST: Final = "ingest"
WRITER_CLASSIFIER: Final = "classifier"
WRITER_COMPLIANCE: Final = "compliance"
WRITER_MERGE: Final = "merge"

# Members of a stored field's map, and of a consent's map
FIELD_VALUE: Final = "v"
FIELD_CONFIRMED_AT: Final = "at"
FIELD_CHANNEL: Final = "ch"
CONSENT_GRANTED: Final = "granted"
CONSENT_AT: Final = "at"
# The same time as a number (microseconds since the epoch): "at" keeps the offset the channel sent, so only equality
# can be asked of it in a condition; this one can say "older than mine" (adapters/profile_store.py)
CONSENT_AT_US: Final = "at_us"
CONSENT_SOURCE: Final = "source"
CONSENT_POLICY_VERSION: Final = "policy_version"


def field_attribute(ciphertext: bytes, confirmed_at: datetime, channel: str) -> dict[str, Any]:
    """A stored field in DynamoDB's typed JSON."""
    return {
        "M": {
            FIELD_VALUE: {"B": ciphertext},
            FIELD_CONFIRMED_AT: {"S": confirmed_at.isoformat()},
            FIELD_CHANNEL: {"S": channel},
        }
    }


def consent_attribute(record: ConsentRecord) -> dict[str, Any]:
    """A consent answer in DynamoDB's typed JSON (on the profile and in the consent history)."""
    return {
        "M": {
            CONSENT_GRANTED: {"BOOL": record.granted},
            CONSENT_AT: {"S": record.collected_at.isoformat()},
            CONSENT_AT_US: {"N": str(epoch_us(record.collected_at))},
            CONSENT_SOURCE: {"S": record.source},
            CONSENT_POLICY_VERSION: {"S": record.policy_version},
        }
    }


def consent_from_attribute(value: Mapping[str, Any]) -> ConsentRecord:
    m = value["M"]
    return ConsentRecord(
        granted=m[CONSENT_GRANTED]["BOOL"],
        collected_at=datetime.fromisoformat(m[CONSENT_AT]["S"]),
        source=m[CONSENT_SOURCE]["S"],
        policy_version=m[CONSENT_POLICY_VERSION]["S"],
        orderable=CONSENT_AT_US in m,
    )


def revision(item: Mapping[str, Any]) -> tuple[int, int]:
    """(version, consent version) of a profile item in typed JSON, read or in a stream image: what a
    classification is written on."""
    return int(item.get(VERSION, {}).get("N", 0)), int(item.get(CONSENT_VERSION, {}).get("N", 0))


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float): the order Python gives aware datetimes."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def trace_counts(item: Mapping[str, Any]) -> dict[str, int]:
    """The trace counters of a profile item in typed JSON, by trace kind (0 when the kind was never seen)."""
    return {kind.value: int(item.get(name, {}).get("N", "0")) for kind, name in TRACE_COUNTERS.items()}
