"""The audience items: who a program is recommended for and on what they may be reached (issue 25).

- membership (profile table): pk AUDIENCE#<subject id>, sk <program>; one per program the classifier recommends to
  an active profile that is reachable somewhere. `audience_key` (`<program>#<shard>`) feeds the sparse
  AudienceIndex; `reach` is the string set of `<channel>:<purpose>` the person may be contacted on (what contact
  decisions decide from the consents and the contact fields held, caps and quiet hours aside). Ids, program names,
  channels and purposes only: no personal value, so nothing here needs the subject's key. Its own partition (not
  SUBJECT#<id>): the readers of a subject's partition (merge, export) meet no kind they do not know.
- pulls (StateCounterTable): pk AUDIENCE_PULLS, sk <day>#<program>#<campaign id>; `profiles`, the ids an audience
  pull carrying that campaign id was served that day (the programs report's "audience size when pulled").
"""

from __future__ import annotations

from typing import Final

PK: Final = "pk"
SK: Final = "sk"
ENTITY_ATTR: Final = "entity"
SUBJECT_ID: Final = "subject_id"  # membership: the AudienceIndex sort key
AUDIENCE_KEY: Final = "audience_key"  # membership: the AudienceIndex partition key, <program>#<shard>
REACH: Final = "reach"  # membership: string set of <channel>:<purpose>
PROFILES: Final = "profiles"  # pulls: a number

ENTITY_MEMBERSHIP: Final = "audience_membership"
ENTITY_PULLS: Final = "audience_pulls"

INDEX: Final = "AudienceIndex"
# A program's members are spread over this many index partitions. A peak of new people all recommended one
# program (3,000 touchpoints/s, each at most one write of that program's key) puts 3,000 / 8 = 375 WCU/s on each,
# under the 500 of the hot-key rule; a page reads each shard once. Changing it needs every membership rewritten.
SHARDS: Final = 8
_PREFIX: Final = "AUDIENCE#"
PULLS_PK: Final = "AUDIENCE_PULLS"
_REACH_PARTS: Final = ":"
_KEY_PARTS: Final = "#"
# Sorts after every `<day>#...` sort key of that day: the upper end of a range of days.
DAY_END: Final = "~"


def membership_pk(subject_id: str) -> str:
    return f"{_PREFIX}{subject_id}"


def audience_key(program: str, shard: int) -> str:
    return f"{program}{_KEY_PARTS}{shard}"


def reach_value(channel: str, purpose: str) -> str:
    return f"{channel}{_REACH_PARTS}{purpose}"


def pulls_sk(day: str, program: str, campaign_id: str) -> str:
    return _KEY_PARTS.join((day, program, campaign_id))


def parse_pulls_sk(sk: str) -> tuple[str, str, str] | None:
    """(day, program, campaign id); None for a sort key of another shape."""
    parts = sk.split(_KEY_PARTS, 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None
