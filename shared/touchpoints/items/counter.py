"""The items of the StateCounterTable: the state distribution and the migration funnel, kept by the classifier.

Counts, state letters, channels and actions only: no subject id, no token, no personal value.
Each counter is spread over SHARDS items (a writer picks one at random, a reader sums them all), so a
burst of profiles moving at once never piles onto one partition.

- distribution: pk STATES#<shard>, sk STATES; one number per `<state>|<origin channel>` (profiles in it)
- funnel: pk FUNNEL#<shard>, sk <day>; one number per `<from>><to>|<channel>|<action>` (moves that day)
- touchpoint quality: pk QUALITY#<shard>, sk <day>; one number per `<measure>|<channel>|<action>`: touchpoints
  classified, those that confirmed an identity field, a contact field, and each field (`field.<name>`)
- field age: pk FIELD_AGE#<shard>, sk <day>; one number per field name (profiles whose field was last
  confirmed that day)
- departure: pk LEFT#<sha256 of the subject id>, sk LEFT, expiring: a profile that left is counted once
- checkpoint: pk CHECKPOINT, sk COUNT_EXISTING; where the count of existing profiles stopped
"""

from __future__ import annotations

from typing import Final

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
EXPIRES_AT: Final = "expires_at"  # epoch seconds (TTL), departure markers only
CURSOR: Final = "cursor"  # checkpoint only: map {cell, start} (start: the index key to go on after)
CURSOR_CELL: Final = "cell"  # member of the cursor: which StateIndex partition (state, origin, shard) is next
CURSOR_START: Final = "start"  # member of the cursor, absent at a partition's start: the index key to go on after

ENTITY_DISTRIBUTION: Final = "state_distribution"
ENTITY_FUNNEL: Final = "funnel"
ENTITY_DEPARTURE: Final = "departure"
ENTITY_QUALITY: Final = "touchpoint_quality"
ENTITY_FIELD_AGE: Final = "field_age"
ENTITY_CHECKPOINT: Final = "checkpoint"

SHARDS: Final = 16
DISTRIBUTION_SK: Final = "STATES"
DEPARTURE_SK: Final = "LEFT"
CHECKPOINT_PK: Final = "CHECKPOINT"
CHECKPOINT_SK: Final = "COUNT_EXISTING"
# Stream records live 24 hours: a replayed departure arrives within that, so the marker can expire after it.
DEPARTURE_TTL_SECONDS: Final = 3 * 24 * 3600

NONE: Final = "none"  # the from-state of a profile classified for the first time
GONE: Final = "gone"  # the to-state of a profile erased or merged into another

_COUNTER_PARTS: Final = "|"
_MOVE: Final = ">"


def distribution_pk(shard: int) -> str:
    return f"STATES#{shard}"


def funnel_pk(shard: int) -> str:
    return f"FUNNEL#{shard}"


def quality_pk(shard: int) -> str:
    return f"QUALITY#{shard}"


def field_age_pk(shard: int) -> str:
    return f"FIELD_AGE#{shard}"


TOUCHPOINTS: Final = "touchpoints"
CONFIRMED_IDENTITY: Final = "identity"
CONFIRMED_CONTACT: Final = "contact"
_FIELD_MEASURE: Final = "field."


def quality_counter(measure: str, channel: str, action: str) -> str:
    """The attribute counting touchpoints of a channel's action: all of them (TOUCHPOINTS), or those that
    confirmed an identity field (CONFIRMED_IDENTITY), a contact field (CONFIRMED_CONTACT), or one field."""
    return f"{measure}{_COUNTER_PARTS}{channel}{_COUNTER_PARTS}{action}"


def field_measure(field: str) -> str:
    return f"{_FIELD_MEASURE}{field}"


def parse_quality_counter(name: str) -> tuple[str, str, str] | None:
    """(measure, channel, action), or None for an attribute that is not a quality counter."""
    parts = name.split(_COUNTER_PARTS)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def field_of_measure(measure: str) -> str | None:
    return measure.removeprefix(_FIELD_MEASURE) if measure.startswith(_FIELD_MEASURE) else None


def departure_pk(subject_hash: str) -> str:
    return f"LEFT#{subject_hash}"


def distribution_counter(state: str, origin: str) -> str:
    """The attribute counting profiles in `state` that came in through `origin`."""
    return f"{state}{_COUNTER_PARTS}{origin}"


def parse_distribution_counter(name: str) -> tuple[str, str] | None:
    """(state, origin), or None for an attribute that is not a distribution counter (the keys, the entity)."""
    state, separator, origin = name.partition(_COUNTER_PARTS)
    return (state, origin) if separator else None


def funnel_counter(from_state: str, to_state: str, channel: str, action: str) -> str:
    """The attribute counting profiles that moved from one state to another because of a channel's action."""
    return f"{from_state}{_MOVE}{to_state}{_COUNTER_PARTS}{channel}{_COUNTER_PARTS}{action}"


def parse_funnel_counter(name: str) -> tuple[str, str, str, str] | None:
    """(from, to, channel, action), or None for an attribute that is not a funnel counter."""
    parts = name.split(_COUNTER_PARTS)
    if len(parts) != 3 or _MOVE not in parts[0]:
        return None
    from_state, _, to_state = parts[0].partition(_MOVE)
    return from_state, to_state, parts[1], parts[2]
