"""What the pipeline and identity resolution both read of a stored subject: its own module, so that neither
imports the other for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from touchpoints.consent import ConsentRecord


@dataclass(frozen=True, slots=True)
class SubjectSnapshot:
    """What the pipeline needs to know of a stored subject before writing to it."""

    subject_id: str
    consents: Mapping[str, ConsentRecord]
    consent_version: int
    wrapped_key: bytes
    link_counts: Mapping[str, int] = field(default_factory=dict)  # identifier kind -> tokens held of it
    verified_fields: frozenset[str] = frozenset()  # fields whose value came from a trusted source (trust.yaml)
