"""The items of the StateCounterTable: the state distribution, the migration funnel and the data quality, kept by
the classifier, and the tallies that carry each classification's counts to them (classification/counts.py).

Counts, state letters, channels, actions, field names and tallies' tokens only: no subject id, no personal value.
Each counter is spread over SHARDS items (a tally picks one at random for all it counts, a reader sums them all).
A counter item is written once per tally that counts in it (not once per classification), and stays small: an
update is priced on the whole item, in 1 KB units.

- distribution: pk STATES#<shard>, sk STATES; one number per `<state>|<origin channel>` (profiles in it); at most
  8 states x 7 origins, ~0.7 KB
- funnel: pk FUNNEL#<shard>, sk <day>#<channel>#<action>; one number per `<from>><to>` (moves that day); at most
  9 x 9 moves, ~0.1 KB as seen. The moves of touchpoints that named a program (issue 25) are split by it too:
  sk <day>#<channel>#<action>#<program>#<campaign id, empty for none>, the same numbers
- moves after a contact: pk CONTACTED#<shard>, sk <day>#<program>#<campaign id or empty>#<contact channel>; one
  number per `<from>><to>`: people who moved to a more complete state that day within the attribution window of a
  contact of that program and campaign (the latest one, its channel); a few moves, ~0.1 KB
- touchpoint quality: pk QUALITY#<shard>, sk <day>#<channel>#<action>; one number per measure: touchpoints
  classified, those that confirmed an identity field, a contact field, and each field (`field.<name>`); ~0.4 KB
- field age: pk FIELD_AGE#<shard>, sk <day>; one number per field name (profiles whose field was last confirmed
  that day); ~0.3 KB
- while a tally's counts are being applied to a counter item, it holds the marker `applied#<token>` (a string)
- tally: pk TALLY#<token>, sk TALLY; its fate (committed or aborted): whether its counts are the counters', and
  a committed one's sums per counter item
- tally work: pk TALLY_WORK#<shard of the token>, sk <token>; a tally whose sums are not applied yet, and until
  when its writer holds it (a few bytes: every invocation reads them all); gone once applied. Two writes a tally:
  sharded, no partition takes them all (issue 23: one key took ~500 WCU/s at the peak with small batches). Work
  items written before the shards sit under pk TALLY_WORK and are read there too
- departure: pk LEFT#<sha256 of the subject id>, sk LEFT, expiring: a profile that left is counted once
- checkpoint: pk CHECKPOINT, sk COUNT_EXISTING; where the count of existing profiles stopped

Before issue 23 the funnel and the quality items held a whole day (sk <day>, names `<from>><to>|<channel>|<action>`
and `<measure>|<channel>|<action>`): readers still read them.
"""

from __future__ import annotations

import hashlib
from typing import Final

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
EXPIRES_AT: Final = "expires_at"  # epoch seconds (TTL): departure markers, tallies of the stream
CURSOR: Final = "cursor"  # checkpoint only: map {cell, start} (start: the index key to go on after)
CURSOR_CELL: Final = "cell"  # member of the cursor: which StateIndex partition (state, origin, shard) is next
CURSOR_START: Final = "start"  # member of the cursor, absent at a partition's start: the index key to go on after
COUNTS_BY: Final = "counts_by"  # departure markers: the tally that counts the departure
DEPARTED_AT: Final = "at"  # departure markers: the day the departure was counted on (ISO)
STATUS: Final = "status"  # tally: committed or aborted
PARTS: Final = "parts"  # committed tally: list of {pk, sk, cells: {name: number}}
PART_CELLS: Final = "cells"
LEASE_UNTIL: Final = "lease_until"  # tally work: epoch seconds; until then its holder applies it, nobody else

ENTITY_DISTRIBUTION: Final = "state_distribution"
ENTITY_FUNNEL: Final = "funnel"
ENTITY_CONTACTED: Final = "contacted_moves"
ENTITY_DEPARTURE: Final = "departure"
ENTITY_QUALITY: Final = "touchpoint_quality"
ENTITY_FIELD_AGE: Final = "field_age"
ENTITY_CHECKPOINT: Final = "checkpoint"
ENTITY_TALLY: Final = "tally"
ENTITY_TALLY_WORK: Final = "tally_work"

COMMITTED: Final = "committed"
ABORTED: Final = "aborted"

SHARDS: Final = 16
DISTRIBUTION_SK: Final = "STATES"
DEPARTURE_SK: Final = "LEFT"
CHECKPOINT_PK: Final = "CHECKPOINT"
CHECKPOINT_SK: Final = "COUNT_EXISTING"
TALLY_SK: Final = "TALLY"
TALLY_WORK_PK: Final = "TALLY_WORK"  # unsharded: written before issue 23's shards, read only
TALLY_WORK_SHARDS: Final = 4
# Stream records live 24 hours: a replayed departure arrives within that, so the marker can expire after it.
DEPARTURE_TTL_SECONDS: Final = 3 * 24 * 3600
# A stream tally's fate is asked by the retries of its records, all within the stream's 24 hours. A tally that
# parked counts on profiles keeps its fate: a profile's next classification, whenever it comes, asks it.
TALLY_TTL_SECONDS: Final = 3 * 24 * 3600

NONE: Final = "none"  # the from-state of a profile classified for the first time
GONE: Final = "gone"  # the to-state of a profile erased or merged into another

_COUNTER_PARTS: Final = "|"
_MOVE: Final = ">"
_KEY_PARTS: Final = "#"
_APPLIED: Final = "applied#"
# Sorts after every `<day>#...` sort key of that day: the upper end of a range of days.
DAY_END: Final = "~"


def distribution_pk(shard: int) -> str:
    return f"STATES#{shard}"


def funnel_pk(shard: int) -> str:
    return f"FUNNEL#{shard}"


def contacted_pk(shard: int) -> str:
    return f"CONTACTED#{shard}"


def quality_pk(shard: int) -> str:
    return f"QUALITY#{shard}"


def field_age_pk(shard: int) -> str:
    return f"FIELD_AGE#{shard}"


def tally_pk(token: str) -> str:
    return f"TALLY#{token}"


def _tally_work_shard_pk(shard: int) -> str:
    return f"{TALLY_WORK_PK}#{shard}"


def tally_work_pk(token: str) -> str:
    return _tally_work_shard_pk(int(hashlib.sha256(token.encode()).hexdigest()[:8], 16) % TALLY_WORK_SHARDS)


def tally_work_pks() -> tuple[str, ...]:
    """Every partition work items may sit in: the shards, and the unsharded one written before them."""
    return (TALLY_WORK_PK, *(_tally_work_shard_pk(shard) for shard in range(TALLY_WORK_SHARDS)))


def day_action_sk(day: str, channel: str, action: str) -> str:
    """The sort key of a funnel or quality item: one day of one channel's action."""
    return f"{day}{_KEY_PARTS}{channel}{_KEY_PARTS}{action}"


def program_action_sk(day: str, channel: str, action: str, program: str, campaign: str) -> str:
    """The sort key of a funnel item of a program's touchpoints: one day of one channel's action, program and
    campaign (empty: none)."""
    return _KEY_PARTS.join((day, channel, action, program, campaign))


def contacted_sk(day: str, program: str, campaign: str, channel: str) -> str:
    """The sort key of a moves-after-a-contact item: a day, a program, its campaign (empty: none), a channel."""
    return _KEY_PARTS.join((day, program, campaign, channel))


def parse_contacted_cell(sk: str, name: str) -> tuple[str, str, str, str, str, str] | None:
    """(day, program, campaign, channel, from, to) of a number in a moves-after-a-contact item; None for another
    attribute."""
    parts = sk.split(_KEY_PARTS)
    from_state, separator, to_state = name.partition(_MOVE)
    if len(parts) != 4 or not separator or name.startswith(_APPLIED):
        return None
    return parts[0], parts[1], parts[2], parts[3], from_state, to_state


def _day_action(sk: str) -> tuple[str, str, str] | None:
    """(day, channel, action) of a funnel or quality item's sort key; a program's funnel item's too."""
    parts = sk.split(_KEY_PARTS)
    return (parts[0], parts[1], parts[2]) if len(parts) in (3, 5) else None


def parse_program_funnel_cell(sk: str, name: str) -> tuple[str, str, str, str, str, str, str] | None:
    """(day, from, to, channel, action, program, campaign) of a number in a program's funnel item; None for any
    other attribute or item."""
    parts = sk.split(_KEY_PARTS)
    from_state, separator, to_state = name.partition(_MOVE)
    if len(parts) != 5 or not separator or name.startswith(_APPLIED):
        return None
    day, channel, action, program, campaign = parts
    return day, from_state, to_state, channel, action, program, campaign


def applied_marker(token: str) -> str:
    """The attribute a counter item holds while a tally's counts are applied to it: a retried update adds nothing."""
    return f"{_APPLIED}{token}"


def marker_token(name: str) -> str | None:
    """The tally's token of a marker attribute, or None for another attribute."""
    return name.removeprefix(_APPLIED) if name.startswith(_APPLIED) else None


TOUCHPOINTS: Final = "touchpoints"
CONFIRMED_IDENTITY: Final = "identity"
CONFIRMED_CONTACT: Final = "contact"
_FIELD_MEASURE: Final = "field."


def quality_counter(measure: str, channel: str, action: str) -> str:
    """A measure of a channel's action by one name: all touchpoints (TOUCHPOINTS), or those that confirmed an
    identity field (CONFIRMED_IDENTITY), a contact field (CONFIRMED_CONTACT), or one field (the layout before
    issue 23 named its counters so)."""
    return f"{measure}{_COUNTER_PARTS}{channel}{_COUNTER_PARTS}{action}"


def field_measure(field: str) -> str:
    return f"{_FIELD_MEASURE}{field}"


def parse_quality_counter(name: str) -> tuple[str, str, str] | None:
    """(measure, channel, action), or None for an attribute that is not a quality counter."""
    parts = name.split(_COUNTER_PARTS)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def parse_quality_cell(sk: str, name: str) -> tuple[str, str, str, str] | None:
    """(day, measure, channel, action) of a number in a quality item, either layout; None for another attribute."""
    if (day_action := _day_action(sk)) is not None:
        day, channel, action = day_action
        return None if name.startswith(_APPLIED) else (day, name, channel, action)
    if (cell := parse_quality_counter(name)) is not None:
        return (sk, *cell)
    return None


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


def move_counter(from_state: str, to_state: str) -> str:
    """The attribute of a funnel item counting the profiles that moved from one state to another."""
    return f"{from_state}{_MOVE}{to_state}"


def funnel_counter(from_state: str, to_state: str, channel: str, action: str) -> str:
    """A move of a channel's action by one name (the layout before issue 23 named its counters so)."""
    return f"{from_state}{_MOVE}{to_state}{_COUNTER_PARTS}{channel}{_COUNTER_PARTS}{action}"


def parse_funnel_counter(name: str) -> tuple[str, str, str, str] | None:
    """(from, to, channel, action), or None for an attribute that is not a funnel counter."""
    parts = name.split(_COUNTER_PARTS)
    if len(parts) != 3 or _MOVE not in parts[0]:
        return None
    from_state, _, to_state = parts[0].partition(_MOVE)
    return from_state, to_state, parts[1], parts[2]


def parse_funnel_cell(sk: str, name: str) -> tuple[str, str, str, str, str] | None:
    """(day, from, to, channel, action) of a number in a funnel item, either layout; None for another attribute."""
    if (day_action := _day_action(sk)) is not None:
        from_state, separator, to_state = name.partition(_MOVE)
        if not separator or name.startswith(_APPLIED):
            return None
        day, channel, action = day_action
        return day, from_state, to_state, channel, action
    if (move := parse_funnel_counter(name)) is not None:
        return (sk, *move)
    return None
