"""The contact items of the profile table: a person's contact counter, and the cap-hit counters.

Counter (pk SUBJECT#<id>, sk CONTACTS): one per person contacted or reserved, in the person's own
partition, so an erasure's purge deletes it with everything else. Written by the channel functions
(contact decisions with reserve, recorded contacts), always whole and conditioned on `revision`.
Holds channel, purpose, campaign and times only: no address, no content.

Cap hits (pk CONTACT_CAPS, sk <day>#<channel>#<campaign id>): how many reserved decisions a cap
refused, per day, channel and campaign. Counts only, for the contact-pressure report.
"""

from __future__ import annotations

from typing import Final

SK_VALUE: Final = "CONTACTS"
ENTITY: Final = "contacts"

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
SUBJECT_ID: Final = "subject_id"
REVISION: Final = "revision"  # +1 on every write; every write is conditioned on the one read
SENT: Final = "sent"  # list of entries (below): contacts sent in the last history_days
RESERVATIONS: Final = "reservations"  # list of entries with a reservation id and an expiry
UPDATED_AT: Final = "updated_at"
CONTACT_DAY: Final = "contact_day"  # ContactIndex partition key: <day of the last contact sent>#<shard>
EXPIRES_AT: Final = "expires_at"  # TTL: when nothing on it counts any more

ATTRIBUTES: Final = frozenset(
    {PK, SK, ENTITY_ATTR, SUBJECT_ID, REVISION, SENT, RESERVATIONS, UPDATED_AT, CONTACT_DAY, EXPIRES_AT}
)

# Members of an entry's map
ENTRY_AT: Final = "at"
ENTRY_CHANNEL: Final = "ch"
ENTRY_PURPOSE: Final = "p"
ENTRY_CAMPAIGN: Final = "c"
ENTRY_KIND: Final = "k"  # sent entries: email, sms, push, whatsapp_template, outbound_call
ENTRY_RESERVATION: Final = "r"  # reservations: the id handed to the channel
ENTRY_EXPIRES_AT: Final = "x"  # reservations: when it stops counting unless used

CONTACT_INDEX: Final = "ContactIndex"
INDEX_SHARDS: Final = 4

# Cap-hit counters
CAPS_PK_VALUE: Final = "CONTACT_CAPS"
CAP_ENTITY: Final = "contact_caps"
CAP_HITS: Final = "hits"
CAP_CHANNEL: Final = "channel"
CAP_CAMPAIGN: Final = "campaign_id"
CAP_DAY: Final = "day"
