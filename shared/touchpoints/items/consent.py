"""The consent history item of the profile table (pk SUBJECT#<id>, sk CONSENT#<keyed digest>).

The answers one touchpoint or request changed (each: purpose, scope, granted, time, source, policy
version; and the touchpoint or request that carried them) are sealed together under the subject's key:
one item, one write, however many answers (issue 23: an item per answer cost 2 write units each in the
touchpoint's transaction). The sort key is a digest of the answers' purposes, scopes and times that
only that key can compute (for a single answer, the digest items always had). Once the key is destroyed
a copy says only that the subject changed consents, not which, when or how. A single answer is sealed
in the shape items had before several shared one; `changes` reads every shape.

Items written before issue 17 are CONSENT#<purpose:scope>#<time> with the answer in `consent`, in the
clear; `changes` and `stored_changes` read them too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
ANSWERS: Final = "answers"  # several answers: a list of the members above but the reference

# Written before issue 17, read only
LEGACY_CONSENT: Final = "consent"  # encoded as items.profile.consent_attribute
LEGACY_EVENT_ID: Final = "event_id"
LEGACY_REQUEST_ID: Final = "request_id"

ATTRIBUTES: Final = frozenset({PK, SK, ENTITY_ATTR, SUBJECT_ID, SEALED})


def sort_key(cipher: SubjectCipher, answers: Sequence[tuple[str, datetime]]) -> str:
    """Of answers (purpose:scope, time) recorded together, in the order they are sealed."""
    return SK_PREFIX + cipher.digest("consent", "\x1e".join(f"{key}\x1f{at.isoformat()}" for key, at in answers))


def sealed_field(sk: str) -> str:
    return f"consent:{sk.removeprefix(SK_PREFIX)}"


def _answer(key: str, record: ConsentRecord) -> dict[str, Any]:
    return {
        KEY: key,
        GRANTED: record.granted,
        AT: record.collected_at.isoformat(),
        SOURCE: record.source,
        POLICY_VERSION: record.policy_version,
    }


def seal(cipher: SubjectCipher, sk: str, answers: Mapping[str, ConsentRecord], reference: str | None) -> bytes:
    listed = [_answer(key, record) for key, record in answers.items()]
    sealed = {**listed[0], REFERENCE: reference} if len(listed) == 1 else {ANSWERS: listed, REFERENCE: reference}
    return cipher.encrypt(sealed_field(sk), json.dumps(sealed))


def sealed_item(
    cipher: SubjectCipher, answers: Mapping[str, ConsentRecord], reference: str | None
) -> tuple[str, bytes]:
    """The sort key and sealed content of the item recording these answers together."""
    sk = sort_key(cipher, [(key, record.collected_at) for key, record in answers.items()])
    return sk, seal(cipher, sk, answers, reference)


Change = tuple[str, ConsentRecord, str | None]  # (purpose:scope, the answer, the touchpoint or request behind it)


def _record(answer: Mapping[str, Any]) -> ConsentRecord:
    return ConsentRecord(
        granted=answer[GRANTED],
        collected_at=datetime.fromisoformat(answer[AT]),
        source=answer[SOURCE],
        policy_version=answer[POLICY_VERSION],
    )


def open_changes(cipher: SubjectCipher, sk: str, sealed: bytes) -> list[Change]:
    opened = json.loads(cipher.decrypt(sealed_field(sk), sealed))
    return [(answer[KEY], _record(answer), opened[REFERENCE]) for answer in opened.get(ANSWERS, [opened])]


def legacy_change(item: Mapping[str, Any]) -> Change:
    """A history item written before issue 17, in the clear (typed JSON)."""
    reference = item.get(LEGACY_EVENT_ID, item.get(LEGACY_REQUEST_ID, {})).get("S")
    key = item[SK]["S"].removeprefix(SK_PREFIX).rsplit("#", 1)[0]
    return key, consent_from_attribute(item[LEGACY_CONSENT]), reference


def stored_changes(cipher: SubjectCipher, sk: str, sealed: bytes | None, legacy: Change | None) -> list[Change]:
    """The answers of a history item already read: sealed (opened with the subject's key), or the one in the clear
    of an item written before issue 17."""
    if sealed is not None:
        return open_changes(cipher, sk, sealed)
    return [] if legacy is None else [legacy]


def changes(item: Mapping[str, Any], cipher: SubjectCipher) -> list[Change]:
    """A history item in typed JSON, of any shape: the answers it holds."""
    if SEALED in item:
        return open_changes(cipher, item[SK]["S"], bytes(item[SEALED]["B"]))
    return [legacy_change(item)]
