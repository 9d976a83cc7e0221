"""The event item of the profile table (pk SUBJECT#<id>, sk EVENT#<keyed digest>): one per touchpoint.

What a touchpoint was (channel, event id, trace kind, action, times) is sealed under the subject's
key, and the sort key is a digest only that key can compute (so a retried event still finds its item):
once the key is destroyed, a copy of the item (a point-in-time backup) says nothing but that the
subject had an event, and the day its TTL falls on. Only the keys, the subject id and `expires_at`
(DynamoDB's TTL must read it) stay in the clear.

Items written before issue 17 keep the metadata as attributes of their own, under
EVENT#<channel>#<event id>; `metadata` reads both shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from touchpoints.privacy.cipher import SubjectCipher

SK_PREFIX: Final = "EVENT#"
ENTITY: Final = "event"

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
SUBJECT_ID: Final = "subject_id"
SEALED: Final = "sealed"  # ciphertext of the metadata below, as JSON; associated data "event:<digest>"
DETAILS: Final = "details"  # ciphertext; associated data trace:<channel>:<event id>
EXPIRES_AT: Final = "expires_at"  # epoch seconds (TTL), rounded down to the day

# Members of the sealed metadata (attributes of their own in items written before issue 17)
CHANNEL: Final = "channel"
EVENT_ID: Final = "event_id"
RECEIVED_AT: Final = "received_at"
TRACE: Final = "trace"  # the trace kind, or "none"
ACTION: Final = "action"
OCCURRED_AT: Final = "occurred_at"
MINIMIZED: Final = "minimized"
METADATA: Final = (CHANNEL, EVENT_ID, RECEIVED_AT, TRACE, ACTION, OCCURRED_AT, MINIMIZED)

ATTRIBUTES: Final = frozenset({PK, SK, ENTITY_ATTR, SUBJECT_ID, SEALED, DETAILS, EXPIRES_AT})


def sort_key(cipher: SubjectCipher, channel: str, event_id: str) -> str:
    return SK_PREFIX + cipher.digest("event", f"{channel}\x1f{event_id}")


def legacy_sort_key(channel: str, event_id: str) -> str:
    """The sort key the same event had before issue 17 (a merge dedupes against it too)."""
    return f"{SK_PREFIX}{channel}#{event_id}"


# Sealed members of an outbound contact's event only (recorded by a sending channel: trace "none",
# action "sent_<kind>")
CONTACT_KIND: Final = "contact_kind"
PURPOSE: Final = "purpose"
CAMPAIGN_ID: Final = "campaign_id"
CONTACT_METADATA: Final = (CONTACT_KIND, PURPOSE, CAMPAIGN_ID)


def details_field(channel: str, event_id: str) -> str:
    """The associated-data name a trace's details are encrypted under (with the subject id)."""
    return f"trace:{channel}:{event_id}"


def sealed_field(sk: str) -> str:
    """The associated-data name of an event's sealed metadata: bound to its own item."""
    return f"event:{sk.removeprefix(SK_PREFIX)}"


def seal(cipher: SubjectCipher, sk: str, metadata: Mapping[str, Any]) -> bytes:
    sealed = {name: metadata.get(name) for name in METADATA}
    sealed.update({name: metadata[name] for name in CONTACT_METADATA if name in metadata})
    return cipher.encrypt(sealed_field(sk), json.dumps(sealed))


def open_metadata(cipher: SubjectCipher, sk: str, sealed: bytes) -> dict[str, Any]:
    opened: dict[str, Any] = json.loads(cipher.decrypt(sealed_field(sk), sealed))
    return opened


def legacy_metadata(item: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata of an item written before issue 17, in the clear (typed JSON)."""
    found = {name: next(iter(item[name].values())) for name in METADATA if name in item}
    return {**{name: None for name in METADATA}, TRACE: "none", MINIMIZED: False, **found}


def metadata(item: Mapping[str, Any], cipher: SubjectCipher) -> dict[str, Any]:
    """The metadata of an event item in typed JSON, of either shape."""
    if SEALED in item:
        return open_metadata(cipher, item[SK]["S"], bytes(item[SEALED]["B"]))
    return legacy_metadata(item)
