"""What the ingestion pipeline and identity placement both read: a touchpoint with its tokens, who owns a token,
and a stored subject's snapshot. Their own module, so that neither side imports the other for them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from touchpoints.consent import ConsentRecord
from touchpoints.model import IdentifierKind, Touchpoint


@dataclass(frozen=True, slots=True)
class PreparedTouchpoint:
    touchpoint: Touchpoint
    tokens: Mapping[IdentifierKind, str]
    # The same values under the other kinds that share them (a phone number as WhatsApp): checked for suppression only.
    same_value_tokens: tuple[str, ...] = ()
    verified_tokens: frozenset[str] = frozenset()  # identifiers the channel vouched for, the vouch checked
    # During a tokenization secret rotation only: a token -> the same identifier's token in the other live version.
    # Its holder is the token's holder, and a claim of the token is refused while the other exists.
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    subject_id: str | None
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class SubjectSnapshot:
    """What the pipeline needs to know of a stored subject before writing to it."""

    subject_id: str
    consents: Mapping[str, ConsentRecord]
    consent_version: int
    wrapped_key: bytes
    link_counts: Mapping[str, int] = field(default_factory=dict)  # identifier kind -> tokens held of it
    verified_fields: frozenset[str] = frozenset()  # fields whose value came from a trusted source (trust.yaml)
    # The profile's last_trace_at when read. It only ever moves forward, so a snapshot's (cached) value is never
    # later than the stored one: a touchpoint no later than it need not, and does not, touch last_trace_at.
    last_trace_at: datetime | None = None
