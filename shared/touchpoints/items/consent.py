"""The consent history item of the profile table (pk SUBJECT#<id>, sk CONSENT#<keyed digest>).

The answer (purpose, scope, granted, time, source, policy version, and the touchpoint or request
that carried it) is sealed under the subject's key; the sort key is a digest of the purpose, scope
and time that only that key can compute. Once the key is destroyed a copy says only that the subject
changed a consent, not which, when or how.

Items written before issue 17 are CONSENT#<purpose:scope>#<time> with the answer in `consent`, in the
clear; `change` reads both shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from touchpoints.consent import ConsentRecord
from touchpoints.items.profile import consent_from_attribute
from touchpoints.privacy.cipher import SubjectCipher

SK_PREFIX: Final = "CONSENT#"
ENTITY: Final = "consent"

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
SUBJECT_ID: Final = "subject_id"
SEALED: Final = "sealed"  # ciphertext of the members below, as JSON; associated data "consent:<digest>"

# Members of the sealed answer
KEY: Final = "key"  # "purpose:scope"
GRANTED: Final = "granted"
AT: Final = "at"
SOURCE: Final = "source"
POLICY_VERSION: Final = "policy_version"
REFERENCE: Final = "reference"  # the touchpoint's event id, or the compliance request id

# Written before issue 17, read only
LEGACY_CONSENT: Final = "consent"  # encoded as items.profile.consent_attribute
LEGACY_EVENT_ID: Final = "event_id"
LEGACY_REQUEST_ID: Final = "request_id"

ATTRIBUTES: Final = frozenset({PK, SK, ENTITY_ATTR, SUBJECT_ID, SEALED})


def sort_key(cipher: SubjectCipher, key: str, collected_at: datetime) -> str:
    return SK_PREFIX + cipher.digest("consent", f"{key}\x1f{collected_at.isoformat()}")


def sealed_field(sk: str) -> str:
    return f"consent:{sk.removeprefix(SK_PREFIX)}"


def seal(cipher: SubjectCipher, sk: str, key: str, record: ConsentRecord, reference: str | None) -> bytes:
    answer = {
        KEY: key,
        GRANTED: record.granted,
        AT: record.collected_at.isoformat(),
        SOURCE: record.source,
        POLICY_VERSION: record.policy_version,
        REFERENCE: reference,
    }
    return cipher.encrypt(sealed_field(sk), json.dumps(answer))


Change = tuple[str, ConsentRecord, str | None]  # (purpose:scope, the answer, the touchpoint or request behind it)


def open_change(cipher: SubjectCipher, sk: str, sealed: bytes) -> Change:
    answer = json.loads(cipher.decrypt(sealed_field(sk), sealed))
    record = ConsentRecord(
        granted=answer[GRANTED],
        collected_at=datetime.fromisoformat(answer[AT]),
        source=answer[SOURCE],
        policy_version=answer[POLICY_VERSION],
    )
    return answer[KEY], record, answer[REFERENCE]


def legacy_change(item: Mapping[str, Any]) -> Change:
    """A history item written before issue 17, in the clear (typed JSON)."""
    reference = item.get(LEGACY_EVENT_ID, item.get(LEGACY_REQUEST_ID, {})).get("S")
    key = item[SK]["S"].removeprefix(SK_PREFIX).rsplit("#", 1)[0]
    return key, consent_from_attribute(item[LEGACY_CONSENT]), reference


def change(item: Mapping[str, Any], cipher: SubjectCipher) -> Change:
    """A history item in typed JSON, of either shape."""
    if SEALED in item:
        return open_change(cipher, item[SK]["S"], bytes(item[SEALED]["B"]))
    return legacy_change(item)
