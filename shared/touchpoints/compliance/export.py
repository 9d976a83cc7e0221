"""The access/portability document: everything held about one person, decrypted, as plain JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from touchpoints.compliance.policy import Regulation
from touchpoints.compliance.records import StoredSubject
from touchpoints.consent import ConsentRecord
from touchpoints.ingestion import trace_details_field
from touchpoints.items import consent as consent_item
from touchpoints.items import event as event_item
from touchpoints.model import PersonalField
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.privacy.tokenizer import token_kind

EXPORT_FORMAT = "touchpoints.subject-export/1"
LINK_FORMAT = "touchpoints.subject-export-link/1"
CONTENT_TYPE = "application/json"


def _consent(record: ConsentRecord) -> dict[str, Any]:
    return {
        "granted": record.granted,
        "collected_at": record.collected_at.isoformat(),
        "source": record.source,
        "policy_version": record.policy_version,
    }


def _value(name: str, plaintext: str) -> Any:
    # Addresses are stored as canonical JSON; the person gets the structure back, not a string of it.
    return json.loads(plaintext) if name == PersonalField.POSTAL_ADDRESS.value else plaintext


def export_document(
    subject: StoredSubject, cipher: SubjectCipher, *, request_id: str, regulation: Regulation, generated_at: datetime
) -> dict[str, Any]:
    """Assemble the export of a stored subject, decrypting each value with the subject's own key."""
    profile = subject.profile
    interactions = []
    for event in subject.events:
        meta = event_item.open_metadata(cipher, event.sort_key, event.sealed) if event.sealed else event.legacy
        assert meta is not None
        channel, event_id = meta[event_item.CHANNEL], meta[event_item.EVENT_ID]
        details = None
        if event.details is not None:
            details = json.loads(cipher.decrypt(trace_details_field(channel, event_id), event.details))
        interactions.append(
            {
                "channel": channel,
                "event_id": event_id,
                "kind": meta[event_item.TRACE],
                "action": meta[event_item.ACTION],
                "occurred_at": meta[event_item.OCCURRED_AT],
                "received_at": meta[event_item.RECEIVED_AT],
                "minimized": meta[event_item.MINIMIZED],
                "details": details,
                "kept_until": event.expires_at,
            }
        )
    interactions.sort(key=lambda e: (e["occurred_at"] or e["received_at"] or "", e["event_id"]))
    history = [
        answer
        for change in subject.consent_history
        for answer in consent_item.stored_changes(cipher, change.sort_key, change.sealed, change.legacy)
    ]
    personal = {
        name: {
            "value": _value(name, cipher.decrypt(name, stored.ciphertext)),
            "confirmed_at": stored.confirmed_at,
            "channel": stored.channel,
        }
        for name, stored in sorted(profile.fields.items())
    }
    return {
        "format": EXPORT_FORMAT,
        "request_id": request_id,
        "regulation": regulation.value,
        "generated_at": generated_at.isoformat(),
        "subject": {
            "subject_id": profile.subject_id,
            "created_at": profile.created_at,
            "updated_at": profile.updated_at,
            "origin_channel": profile.origin_channel,
            "channels": sorted(profile.channels),
            "identifier_kinds": sorted({token_kind(t) for t in profile.tokens} - {""}),
            "interaction_counts": dict(profile.traces),
            "last_interaction_at": profile.last_trace_at,
        },
        "personal_data": personal,
        "consents": {key: _consent(record) for key, record in sorted(profile.consents.items())},
        "consent_history": [
            {"consent": key, **_consent(record), "reference": reference}
            for key, record, reference in sorted(
                (change for change in history if change is not None), key=lambda c: (c[1].collected_at, c[0])
            )
        ],
        "interactions": interactions,
    }


class ExportStore(Protocol):
    """Where exports too large to answer inline are kept for the person, briefly, and linked from."""

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store the object encrypted; raises ExportStorageUnavailable."""
        ...

    def link(self, key: str, expires_in: int) -> str:
        """A URL that fetches the object without further credentials until it expires."""
        ...


def export_key(request_id: str) -> str:
    """The object's name: the request id only, so nothing about the person shows in S3's listings or logs."""
    return f"exports/{request_id}.json"


@dataclass(frozen=True, slots=True)
class Delivery:
    answer: dict[str, Any]  # what the API returns: the document itself, or a link to it
    size: int  # bytes of the serialized document
    stored: bool  # written to the export store


@dataclass(frozen=True, slots=True)
class ExportDelivery:
    """Answers small exports inline and links large ones from the export store (policy: inline_max_bytes)."""

    store: ExportStore
    inline_max_bytes: int
    link_seconds: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def deliver(self, document: dict[str, Any]) -> Delivery:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        if len(body) <= self.inline_max_bytes:
            return Delivery(document, len(body), stored=False)
        request_id = str(document["request_id"])
        key = export_key(request_id)
        self.store.put(key, body, CONTENT_TYPE)
        expires_at = self.clock() + timedelta(seconds=self.link_seconds)
        answer = {
            "format": LINK_FORMAT,
            "request_id": request_id,
            "url": self.store.link(key, self.link_seconds),
            "expires_at": expires_at.isoformat(),
            "content_type": CONTENT_TYPE,
            "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        return Delivery(answer, len(body), stored=True)
