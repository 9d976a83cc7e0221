"""The access/portability document: everything held about one person, decrypted, as plain JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from touchpoints.compliance.policy import Regulation
from touchpoints.compliance.records import StoredSubject
from touchpoints.consent import ConsentRecord
from touchpoints.ingestion import trace_details_field
from touchpoints.model import PersonalField
from touchpoints.privacy.cipher import SubjectCipher
from touchpoints.privacy.tokenizer import token_kind

EXPORT_FORMAT = "touchpoints.subject-export/1"


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
    for event in sorted(subject.events, key=lambda e: (e.occurred_at or e.received_at or "", e.event_id)):
        details = None
        if event.details is not None:
            details = json.loads(cipher.decrypt(trace_details_field(event.channel, event.event_id), event.details))
        interactions.append(
            {
                "channel": event.channel,
                "event_id": event.event_id,
                "kind": event.trace,
                "action": event.action,
                "occurred_at": event.occurred_at,
                "received_at": event.received_at,
                "minimized": event.minimized,
                "details": details,
                "kept_until": event.expires_at,
            }
        )
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
            {"consent": change.key, **_consent(change.record), "reference": change.reference}
            for change in sorted(subject.consent_history, key=lambda c: (c.record.collected_at, c.key))
        ],
        "interactions": interactions,
    }
