"""A subject's stored data as the compliance side reads it: ciphertexts, not values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from touchpoints.consent import ConsentRecord
from touchpoints.ingestion import SealedItem
from touchpoints.items.consent import Change


@dataclass(frozen=True, slots=True)
class StoredField:
    ciphertext: bytes
    confirmed_at: str
    channel: str


@dataclass(frozen=True, slots=True)
class StoredProfile:
    subject_id: str
    status: str
    created_at: str
    updated_at: str
    origin_channel: str | None
    channels: tuple[str, ...]
    tokens: tuple[str, ...]
    fields: Mapping[str, StoredField]
    consents: Mapping[str, ConsentRecord]
    consent_version: int
    version: int
    traces: Mapping[str, int] = field(default_factory=dict)
    last_trace_at: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event item: its metadata sealed under the subject's key (items.event), or in the clear if older."""

    sort_key: str
    sealed: bytes | None
    legacy: Mapping[str, Any] | None  # items written before issue 17
    details: bytes | None
    expires_at: int | None


@dataclass(frozen=True, slots=True)
class StoredConsentChange:
    """A consent history item: the answer sealed under the subject's key (items.consent), or in the clear if older."""

    sort_key: str
    sealed: bytes | None
    legacy: Change | None  # items written before issue 17


@dataclass(frozen=True, slots=True)
class StoredSubject:
    profile: StoredProfile
    wrapped_key: bytes
    events: tuple[StoredEvent, ...] = ()
    consent_history: tuple[StoredConsentChange, ...] = ()


@dataclass(frozen=True, slots=True)
class Rectification:
    """New ciphertexts for corrected fields, and the identifier tokens that change hands."""

    subject_id: str
    fields: Mapping[str, bytes]
    release_tokens: tuple[str, ...]
    claim_tokens: tuple[str, ...]
    expected_version: int
    request_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Consents set to "no", conditioned on the consent version they were decided against."""

    subject_id: str
    consents: Mapping[str, ConsentRecord]
    expected_consent_version: int
    request_id: str
    at: datetime
    history: tuple[SealedItem, ...]  # the withdrawn answers, in one consent history item
