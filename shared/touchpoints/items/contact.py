"""The contact items of the profile table: a person's contact counter, and the cap-hit counters.

Counter (pk SUBJECT#<id>, sk CONTACTS): one per person contacted or reserved, in the person's own
partition, so an erasure's purge deletes it with everything else. Written by the channel functions
(contact decisions with reserve, recorded contacts), always whole and conditioned on `revision`.
Holds channel, purpose, campaign and times only: no address, no content.

Cap hits (pk CONTACT_CAPS, sk <day>#<channel>#<campaign id>): how many reserved decisions a cap
refused, per day, channel and campaign. Counts only, for the contact-pressure report.

Pressure (pk CONTACT_PRESSURE#<day recorded>#<shard>, sk PRESSURE): what the contacts recorded that day did to
the histograms of people by contacts (contact/pressure.py): one number per `<target day - day recorded>|<window
days>|<contacts>` (people moved into, or out of when negative, that bucket on the target day). Counts only.

Contacts sent (pk CONTACTS_SENT#<shard>, sk <day sent>#<channel>#<program or ->#<campaign id>): how many
contacts were sent, per day, channel, program and campaign. Counts only, for the programs report.

While a request's counts are being applied to a pressure or sent item, the item holds the marker
`applied#<token>`: a retried update adds nothing; the marker is removed once the update held.
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
EXPIRES_AT: Final = "expires_at"  # TTL: when nothing on it counts any more

ATTRIBUTES: Final = frozenset({PK, SK, ENTITY_ATTR, SUBJECT_ID, REVISION, SENT, RESERVATIONS, UPDATED_AT, EXPIRES_AT})

# Members of an entry's map
ENTRY_AT: Final = "at"
ENTRY_CHANNEL: Final = "ch"
ENTRY_PURPOSE: Final = "p"
ENTRY_CAMPAIGN: Final = "c"
ENTRY_PROGRAM: Final = "pg"  # sent entries, when the channel named one: a program of classification.yaml
ENTRY_KIND: Final = "k"  # sent entries: email, sms, push, whatsapp_template, outbound_call
ENTRY_RESERVATION: Final = "r"  # reservations: the id handed to the channel
ENTRY_EXPIRES_AT: Final = "x"  # reservations: when it stops counting unless used

# Cap-hit counters
CAPS_PK_VALUE: Final = "CONTACT_CAPS"
CAP_ENTITY: Final = "contact_caps"
CAP_HITS: Final = "hits"
CAP_CHANNEL: Final = "channel"
CAP_CAMPAIGN: Final = "campaign_id"
CAP_DAY: Final = "day"

# Pressure and contacts-sent counters
PRESSURE_SK_VALUE: Final = "PRESSURE"
PRESSURE_ENTITY: Final = "contact_pressure"
PRESSURE_DAY: Final = "day"  # the day recorded
SENT_ENTITY: Final = "contacts_sent"
SENT_COUNT: Final = "sent"
SENT_DAY: Final = "day"
SENT_CHANNEL: Final = "channel"
SENT_PROGRAM: Final = "program"  # absent: no program named
SENT_CAMPAIGN: Final = "campaign_id"
COUNTER_SHARDS: Final = 4
SENT_TTL_DAYS: Final = 400  # the programs report looks back up to a year
PRESSURE_TTL_DAYS: Final = 32  # a day's pressure counts only for the 30 days after it
NO_PROGRAM: Final = "-"
_CELL_PARTS: Final = "|"
_APPLIED: Final = "applied#"


def pressure_pk(day: str, shard: int) -> str:
    return f"CONTACT_PRESSURE#{day}#{shard}"


def sent_pk(shard: int) -> str:
    return f"CONTACTS_SENT#{shard}"


def sent_sk(day: str, channel: str, program: str | None, campaign_id: str) -> str:
    return f"{day}#{channel}#{program or NO_PROGRAM}#{campaign_id}"


def pressure_cell(offset: int, window: int, contacts: int) -> str:
    return f"{offset}{_CELL_PARTS}{window}{_CELL_PARTS}{contacts}"


def parse_pressure_cell(name: str) -> tuple[int, int, int] | None:
    """(target day - day recorded, window days, contacts), or None for another attribute."""
    parts = name.split(_CELL_PARTS)
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def applied_marker(token: str) -> str:
    return f"{_APPLIED}{token}"
